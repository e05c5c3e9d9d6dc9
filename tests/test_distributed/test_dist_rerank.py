"""Re-ranking under DDP: 2 processes (torchrun, gloo on CPU) validate a
tiny ALBEF; rank 0 re-ranks the tokens gathered from both ranks (the
distributed sampler pads and splits the gallery and the queries). The
validation metrics equal tools/test.py in one process on the same
checkpoint."""
import glob
import json
import os.path as osp

import pytest

pytestmark = pytest.mark.slow  # torchrun with two processes

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs/albef/albef_synth.py')


def test_torchrun_validation_rerank_matches_one_process(tiny_synth_root,
                                                        tmp_path,
                                                        tiny_cli_options,
                                                        run_group,
                                                        free_port):
    work = str(tmp_path / 'work')
    opts = [o for o in tiny_cli_options(tiny_synth_root)
            if not o.startswith('model.')]
    opts += ['model.image_encoder.arch.num_layers=1',
             'model.text_encoder.num_layers=1', 'model.rerank.k=8',
             'val_dataloader.batch_size=7']  # batches mix both modalities
    log = run_group(['-m', 'torch.distributed.run', '--nproc_per_node', '2',
                     '--master_addr', '127.0.0.1',
                     '--master_port', str(free_port()),
                     osp.join(REPO_ROOT, 'tools/train.py'), CONFIG,
                     '--launcher', 'pytorch', '--work-dir', work,
                     '--cfg-options', 'train_cfg.max_epochs=1'] + opts,
                    cwd=str(tmp_path))
    assert 'Distributed training: True' in log
    assert 'Re-ranked the top candidates of' in log
    scalars = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    records = [json.loads(line) for line in open(scalars[0])]
    dist_val = [r for r in records if 'R1' in r][0]

    out = str(tmp_path / 'val_metrics.json')
    log = run_group([osp.join(REPO_ROOT, 'tools/test.py'), CONFIG,
                     osp.join(work, 'epoch_1.pth'), '--work-dir',
                     str(tmp_path / 'single'), '--out', out, '--cfg-options',
                     'test_dataloader.dataset.split=val',
                     'test_dataloader.batch_size=5'] + opts, cwd=str(tmp_path))
    assert 'Re-ranked the top candidates of' in log
    single = json.load(open(out))
    for k, v in single.items():
        assert dist_val[k] == pytest.approx(v, abs=1e-4), k
