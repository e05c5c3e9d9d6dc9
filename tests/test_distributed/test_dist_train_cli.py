"""tools/train.py under torchrun: 2 processes, gloo on CPU, one epoch on a
tiny SynthPEDES, validation and the test of the best checkpoint; the
distributed validation metrics equal tools/test.py in one process."""
import glob
import json
import os.path as osp

import pytest
from conftest import data_root_options

pytestmark = pytest.mark.slow  # torchrun with two processes

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs/clip/clip_synth.py')


def test_torchrun_two_processes_train_val_test(tiny_synth_root, tmp_path,
                                               tiny_cli_options, run_group,
                                               free_port):
    work = str(tmp_path / 'work')
    opts = tiny_cli_options(tiny_synth_root)
    # cwd=tmp_path: mmengine's CPU result collection makes ./.dist_test
    log = run_group(['-m', 'torch.distributed.run', '--nproc_per_node', '2',
                     '--master_addr', '127.0.0.1',
                     '--master_port', str(free_port()),
                     osp.join(REPO_ROOT, 'tools/train.py'), CONFIG,
                     '--launcher', 'pytorch', '--work-dir', work, '--test',
                     '--cfg-options', 'train_cfg.max_epochs=1'] + opts,
                    cwd=str(tmp_path))
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert 'Epoch(train) [1]' in log
    assert 'Epoch(val) [1]' in log and 'R1:' in log
    assert 'Testing the best validation checkpoint' in log
    assert 'Epoch(test)' in log
    assert osp.exists(osp.join(work, 'epoch_1.pth'))
    assert len(glob.glob(osp.join(work, 'best_R1_epoch_1.pth'))) == 1

    # full-precision validation metrics of the distributed run
    scalars = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    assert len(scalars) == 1
    records = [json.loads(line) for line in open(scalars[0])]
    val = [r for r in records if 'R1' in r]
    assert len(val) == 1  # the validation of epoch 1 (test is not logged)
    dist_val = val[0]

    # the same checkpoint evaluated on the val split by one process
    out = str(tmp_path / 'val_metrics.json')
    run_group([osp.join(REPO_ROOT, 'tools/test.py'), CONFIG,
               osp.join(work, 'epoch_1.pth'), '--work-dir',
               str(tmp_path / 'single'), '--out', out, '--cfg-options',
               'test_dataloader.dataset.split=val'] + opts, cwd=str(tmp_path))
    single = json.load(open(out))
    assert set(single) == {'R1', 'R5', 'R10', 'mAP', 'mINP'}
    for k, v in single.items():
        assert dist_val[k] == pytest.approx(v, abs=1e-4), k


def test_torchrun_two_processes_laip_both_stages(tiny_synth_root, tmp_path,
                                                 run_group, free_port):
    """LAIP on 2 CPU processes through both stages: stage 1 leaves the
    MPM and local-alignment heads without gradient, so DDP must look for
    unused parameters (the config's find_unused_parameters)."""
    work = str(tmp_path / 'work')
    opts = data_root_options(tiny_synth_root)
    opts += ['train_dataloader.batch_size=8', 'train_cfg.max_epochs=2',
             'train_cfg.val_interval=2', 'train_cfg.val_begin=1',
             'custom_hooks.0.stages.1.begin=1',
             'model.image_encoder.arch.num_layers=1',
             'model.text_encoder.num_layers=1', 'model.rerank.k=4']
    log = run_group(['-m', 'torch.distributed.run', '--nproc_per_node', '2',
                     '--master_addr', '127.0.0.1',
                     '--master_port', str(free_port()),
                     osp.join(REPO_ROOT, 'tools/train.py'),
                     osp.join(REPO_ROOT, 'configs/laip/laip_synth.py'),
                     '--launcher', 'pytorch', '--work-dir', work,
                     '--cfg-options'] + opts, cwd=str(tmp_path))
    assert 'Training stage 2/2 from epoch 1' in log
    assert 'loss_local' in log and 'loss_mpm' in log
    assert 'Epoch(val) [2]' in log
    assert osp.exists(osp.join(work, 'epoch_2.pth'))
    # both ranks' RNG states, gathered at the end of the epoch
    import torch

    import tbps  # noqa: F401 (safe globals)
    saved = torch.load(osp.join(work, 'epoch_2.pth'), weights_only=True)
    assert len(saved['rng_state']) == 2
