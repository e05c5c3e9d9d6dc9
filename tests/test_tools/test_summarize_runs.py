"""tools/analysis_tools/summarize_runs.py on work directories laid out as
mmengine writes them (test_train_test_cli checks the layout of a real run)."""
import json
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
import summarize_runs  # noqa: E402


def metrics(r1, **kw):
    out = dict(R1=r1, R5=r1 + 10, R10=r1 + 20, mAP=r1 + 1, mINP=r1 - 1)
    out.update(kw)
    return out


def make_run(root, name, test, vals=(), stamp='20260101_000000'):
    log_dir = root / name / stamp
    (log_dir / 'vis_data').mkdir(parents=True)
    (log_dir / f'{stamp}.log').write_text('')
    with open(log_dir / 'vis_data' / 'scalars.json', 'w') as f:
        for step, r1 in enumerate(vals, 1):
            f.write(json.dumps(dict(lr=0.1, step=step)) + '\n')
            f.write(json.dumps(dict(metrics(r1), step=step)) + '\n')
    if test is not None:
        (log_dir / f'{stamp}.json').write_text(json.dumps(metrics(test)))
    return str(root / name)


def test_mean_and_sample_std_per_label(tmp_path, capsys):
    for seed, r1 in enumerate((10.0, 20.0, 30.0)):
        make_run(tmp_path, f'a_s{seed}', r1, vals=(r1 / 2, r1 + 5, r1))
    make_run(tmp_path, 'b_s0', 40.0)
    (tmp_path / 'a_s0.log').write_text('not a run')  # globbed, skipped
    table = summarize_runs.main([f'A={tmp_path}/a_s*', f'B={tmp_path}/b_s*'])
    rows = table.splitlines()
    assert rows[2].startswith('| A | 3 | 20.00 ± 10.00 | 30.00 ± 10.00 |')
    assert rows[3].startswith('| B | 1 | 40.00 ± 0.00 |')
    assert table in capsys.readouterr().out

    per_run = summarize_runs.main(['--per-run', f'A={tmp_path}/a_s*'])
    assert per_run.splitlines()[2:] == [
        f'| A | a_s{s} | {r:.2f} | {r + 10:.2f} | {r + 20:.2f} | '
        f'{r + 1:.2f} | {r - 1:.2f} |' for s, r in enumerate((10, 20, 30))]

    # the best validation epoch by R1, not the last one
    val = summarize_runs.main(['--split', 'val', f'A={tmp_path}/a_s*'])
    assert '| A | 3 | 25.00 ± 10.00 |' in val


def test_latest_log_dir_wins(tmp_path):
    make_run(tmp_path, 'r', 10.0, stamp='20260101_000000')
    make_run(tmp_path, 'r', 50.0, stamp='20260102_000000')
    assert summarize_runs.run_metrics(str(tmp_path / 'r'))['R1'] == 50.0


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='no <timestamp>'):
        summarize_runs.run_metrics(str(tmp_path))
    run = make_run(tmp_path, 'v', None, vals=(3.0,))
    with pytest.raises(FileNotFoundError, match='train without --test'):
        summarize_runs.run_metrics(run)
    assert summarize_runs.run_metrics(run, 'val')['R1'] == 3.0
    with open(osp.join(run, '20260101_000000', '20260101_000000.json'),
              'w') as f:
        f.write(json.dumps(dict(lr=0.1)))
    with pytest.raises(ValueError, match=r'\.json: no test metrics'):
        summarize_runs.run_metrics(run)
    bad = make_run(tmp_path, 'x', 1.0)
    log_dir = osp.join(bad, '20260101_000000')
    with open(osp.join(log_dir, '20260101_000000.json'), 'w') as f:
        f.write(json.dumps(dict(R1=1.0)))
    with pytest.raises(ValueError, match=r"lacks \['R5'"):
        summarize_runs.run_metrics(bad)
    with pytest.raises(SystemExit, match='no directory matches'):
        summarize_runs.main([f'A={tmp_path}/nothing*'])
    with pytest.raises(SystemExit, match='expected LABEL=GLOB'):
        summarize_runs.main(['nolabel'])
