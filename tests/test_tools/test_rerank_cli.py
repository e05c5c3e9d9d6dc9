"""tools/train.py (validation) and tools/test.py re-rank with the ALBEF
synth config: one epoch on a tiny SynthPEDES."""
import glob
import json
import os.path as osp

import pytest

pytestmark = pytest.mark.slow  # CLI training and testing in child processes

CONFIG = 'configs/albef/albef_synth.py'
RERANK_LOG = 'Re-ranked the top candidates of'


def albef_options(tiny_cli_options, root):
    # the shared options shrink the CLIP encoders; ALBEF's keys differ
    opts = [o for o in tiny_cli_options(root) if not o.startswith('model.')]
    return opts + ['model.image_encoder.arch.num_layers=1',
                   'model.text_encoder.num_layers=1', 'model.rerank.k=8']


def test_train_validation_and_test_rerank(tiny_synth_root, tiny_cli_options,
                                          tmp_path, run_script):
    work = str(tmp_path / 'work')
    opts = albef_options(tiny_cli_options, tiny_synth_root)
    log = run_script(['tools/train.py', CONFIG, '--work-dir', work, '--test',
                      '--cfg-options', 'train_cfg.max_epochs=1'] + opts)
    val_at = log.index('Epoch(val)')
    test_at = log.index('Epoch(test)')
    first = log.index(RERANK_LOG)
    assert first < val_at  # validation re-ranked
    assert log.index(RERANK_LOG, val_at) < test_at  # and the test
    best = glob.glob(osp.join(work, 'best_R1_epoch_*.pth'))
    assert len(best) == 1

    out = str(tmp_path / 'metrics.json')
    log = run_script(['tools/test.py', CONFIG, best[0], '--work-dir', work,
                      '--out', out, '--cfg-options'] + opts)
    assert RERANK_LOG in log
    metrics = json.load(open(out))
    assert set(metrics) == {'R1', 'R5', 'R10', 'mAP', 'mINP'}
    assert 0 <= metrics['R1'] <= metrics['R5'] <= metrics['R10'] <= 100
