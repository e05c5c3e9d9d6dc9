"""Where the quick-start job's time goes: wall time per phase of
``python tools/train.py configs/laip/laip_synth.py --test``, in one process::

    python benchmarks/quickstart.py [CONFIG] [--data-root DIR] [--fresh]
        [--work-dir DIR] [--cfg-options k=v ...]

Phases: SynthPEDES generation (``--fresh`` regenerates it into a temporary
folder; otherwise an existing ``data_root`` takes ~0 s), noun-phrase
parsing (building the training dataset with its ``phrase_cfg``; the cache
is rebuilt with ``--fresh``), training iterations, validation, and the test
of the best-validation checkpoint. Prints a table and the final test R1.
"""
import argparse
import os.path as osp
import tempfile
import time

from mmengine.config import Config, DictAction
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner


class PhaseTimer(Hook):
    """Accumulates the wall time of training epochs and validations."""

    priority = 'VERY_LOW'

    def __init__(self):
        self.seconds = dict(train=0.0, val=0.0)
        self._start = None

    def before_train_epoch(self, runner):
        self._start = time.perf_counter()

    def after_train_epoch(self, runner):
        self.seconds['train'] += time.perf_counter() - self._start

    def before_val_epoch(self, runner):
        self._start = time.perf_counter()

    def after_val_epoch(self, runner, metrics=None):
        self.seconds['val'] += time.perf_counter() - self._start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', nargs='?',
                        default='configs/laip/laip_synth.py')
    parser.add_argument('--data-root', default=None)
    parser.add_argument('--fresh', action='store_true',
                        help='generate the data and parse the phrases anew '
                        '(in a temporary folder)')
    parser.add_argument('--work-dir', default=None,
                        help='keep the run (checkpoints, logs) here '
                        '(default: a temporary folder)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    init_default_scope('tbps')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    phases = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_root or cfg.train_dataloader.dataset.data_root
        if args.fresh:
            root = osp.join(tmp, 'synth_pedes')
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader'):
            cfg[loader].dataset.data_root = root
        cfg.work_dir = args.work_dir or osp.join(tmp, 'work')
        from tbps.registry import DATASETS
        start = time.perf_counter()
        data_cfg = dict(cfg.train_dataloader.dataset)
        phrase_cfg = data_cfg.pop('phrase_cfg', None)
        DATASETS.build(data_cfg).full_init()  # generates on first use
        phases['data generation'] = time.perf_counter() - start
        start = time.perf_counter()
        if phrase_cfg:
            DATASETS.build(dict(data_cfg, phrase_cfg=phrase_cfg)).full_init()
        phases['phrase parsing'] = time.perf_counter() - start
        runner = Runner.from_cfg(cfg)
        timer = PhaseTimer()
        runner.register_hook(timer)
        start = time.perf_counter()
        runner.train()
        total = time.perf_counter() - start
        phases['training'] = timer.seconds['train']
        phases['validation'] = timer.seconds['val']
        phases['other (setup, checkpoints)'] = \
            total - timer.seconds['train'] - timer.seconds['val']
        best = runner.message_hub.get_info('best_ckpt')
        if best:
            runner.load_checkpoint(best)
        start = time.perf_counter()
        metrics = runner.test()
        phases['test'] = time.perf_counter() - start
    print(f'config {args.config}' + (' (fresh data)' if args.fresh else ''))
    for name, seconds in phases.items():
        print(f'  {name:28s} {seconds:8.1f} s')
    print(f'  {"total":28s} {sum(phases.values()):8.1f} s')
    print(f"  test R1 {metrics['R1']:.2f}, mAP {metrics['mAP']:.2f}")
    return phases, metrics


if __name__ == '__main__':
    main()
