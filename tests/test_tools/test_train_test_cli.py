"""tools/train.py and tools/test.py end to end on a tiny SynthPEDES:
train one epoch, keep the best validation checkpoint, test it, resume."""
import glob
import json
import os
import os.path as osp
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
from summarize_runs import run_metrics  # noqa: E402

pytestmark = pytest.mark.slow  # CLI runs in child processes


@pytest.mark.parametrize('config', ['configs/clip/clip_synth.py'])
def test_train_best_checkpoint_test_and_resume(config, tiny_synth_root,
                                               tiny_cli_options,
                                               tmp_path, run_script):
    work = str(tmp_path / 'work')
    opts = tiny_cli_options(tiny_synth_root)
    log = run_script(['tools/train.py', config, '--work-dir', work, '--test',
                      '--cfg-options', 'train_cfg.max_epochs=1'] + opts)
    best = glob.glob(osp.join(work, 'best_R1_epoch_*.pth'))
    assert len(best) == 1, os.listdir(work)
    assert 'Testing the best validation checkpoint' in log
    assert 'Epoch(test)' in log and 'mINP' in log
    # where summarize_runs.py finds the test metrics of a train --test run
    logged = run_metrics(work, 'test')
    assert run_metrics(work, 'val')['R1'] >= 0

    out = str(tmp_path / 'metrics.json')
    run_script(['tools/test.py', config, best[0], '--work-dir', work,
                '--out', out, '--cfg-options'] + opts)
    metrics = json.load(open(out))
    assert set(metrics) == {'R1', 'R5', 'R10', 'mAP', 'mINP'}
    assert 0 <= metrics['R1'] <= metrics['R5'] <= metrics['R10'] <= 100
    assert logged == pytest.approx(metrics)

    # Resume (torch >= 2.6 checkpoints hold mmengine objects) and train on.
    log = run_script(['tools/train.py', config, '--work-dir', work, '--resume',
                      '--cfg-options', 'train_cfg.max_epochs=2'] + opts)
    assert 'resumed epoch: 1' in log
    assert osp.exists(osp.join(work, 'epoch_2.pth'))
