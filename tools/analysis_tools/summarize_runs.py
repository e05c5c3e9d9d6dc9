"""Mean and spread of retrieval metrics over several runs (e.g. seeds).

Each run is a work directory written by ``tools/train.py --test`` or
``tools/test.py``; in its latest log directory, mmengine writes the test
metrics to ``<timestamp>.json`` and the validation metrics to
``vis_data/scalars.json``::

    python tools/analysis_tools/summarize_runs.py \
        LAIP='work_dirs/laip_s*' ALBEF='work_dirs/albef_s*'

prints one markdown row per label: the number of runs, then mean +- sample
standard deviation of R1, R5, R10, mAP and mINP on the test split (or the
best validation epoch with ``--split val``); ``--per-run`` prints one row
per run (its directory name) instead.
"""
import argparse
import glob
import json
import os.path as osp
import statistics
from typing import Dict, List, Sequence

METRICS = ('R1', 'R5', 'R10', 'mAP', 'mINP')


def _records(path: str) -> List[dict]:
    records = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(f'{path}, line {line_no}: not JSON '
                                 f'({err})') from None
    return records


def latest_log_dir(work_dir: str) -> str:
    """The newest ``<timestamp>`` directory that holds a ``<timestamp>.log``
    (mmengine names both after the run's start time)."""
    runs = sorted(d for d in glob.glob(osp.join(work_dir, '*'))
                  if osp.isfile(osp.join(d, osp.basename(d) + '.log')))
    if not runs:
        raise FileNotFoundError(
            f'{work_dir}: no <timestamp>/<timestamp>.log found; is it a '
            'work directory of tools/train.py or tools/test.py?')
    return runs[-1]


def run_metrics(work_dir: str, split: str = 'test') -> Dict[str, float]:
    """Test metrics of a run, or its best-R1 validation epoch's metrics."""
    log_dir = latest_log_dir(work_dir)
    if split == 'test':
        path = osp.join(log_dir, osp.basename(log_dir) + '.json')
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: missing; the run has no test '
                                    'metrics (train without --test?)')
        found = [r for r in _records(path) if 'R1' in r and 'step' not in r]
    elif split == 'val':
        path = osp.join(log_dir, 'vis_data', 'scalars.json')
        found = [r for r in _records(path) if 'R1' in r]
        found = sorted(found, key=lambda r: r['R1'])
    else:
        raise ValueError(f"split must be 'test' or 'val', got {split!r}")
    if not found:
        raise ValueError(f'{path}: no {split} metrics (R1 ...) recorded')
    record = found[-1]
    missing = [m for m in METRICS if m not in record]
    if missing:
        raise ValueError(f'{path}: {split} record lacks {missing}')
    return {m: float(record[m]) for m in METRICS}


def summarize(runs: Sequence[Dict[str, float]]) -> Dict[str, tuple]:
    """metric -> (mean, sample std; 0 for a single run)."""
    out = {}
    for m in METRICS:
        values = [r[m] for r in runs]
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        out[m] = (statistics.fmean(values), spread)
    return out


def markdown_table(groups: Dict[str, List[Dict[str, float]]]) -> str:
    lines = ['| runs | n | ' + ' | '.join(METRICS) + ' |',
             '|---|---|' + '---|' * len(METRICS)]
    for label, runs in groups.items():
        stats = summarize(runs)
        cells = [f'{mean:.2f} ± {std:.2f}' for mean, std in
                 (stats[m] for m in METRICS)]
        lines.append(f'| {label} | {len(runs)} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def per_run_table(groups: Dict[str, Dict[str, Dict[str, float]]]) -> str:
    """One row per run: label, work-directory name, metrics."""
    lines = ['| runs | run | ' + ' | '.join(METRICS) + ' |',
             '|---|---|' + '---|' * len(METRICS)]
    for label, runs in groups.items():
        for name, metrics in runs.items():
            cells = [f'{metrics[m]:.2f}' for m in METRICS]
            lines.append(f'| {label} | {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('groups', nargs='+', metavar='LABEL=GLOB',
                        help='a label and a glob of work directories')
    parser.add_argument('--split', default='test', choices=('test', 'val'))
    parser.add_argument('--per-run', action='store_true',
                        help='one row per run instead of mean +- std')
    return parser.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    groups = {}
    for item in args.groups:
        label, sep, pattern = item.partition('=')
        if not sep or not label:
            raise SystemExit(f'expected LABEL=GLOB, got {item!r}')
        dirs = sorted(d for d in glob.glob(pattern) if osp.isdir(d))
        if not dirs:
            raise SystemExit(f'{label}: no directory matches {pattern!r}')
        groups[label] = {osp.basename(d): run_metrics(d, args.split)
                         for d in dirs}
    if args.per_run:
        table = per_run_table(groups)
    else:
        table = markdown_table({label: list(runs.values())
                                for label, runs in groups.items()})
    print(table)
    return table


if __name__ == '__main__':
    main()
