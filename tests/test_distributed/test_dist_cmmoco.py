"""CM-MoCo under torchrun (2 processes, gloo on CPU): both ranks' momentum
keys enter the queues, and training, validation and the k-reciprocal test
run end to end."""
import glob
import os.path as osp

import pytest
import torch
from conftest import data_root_options

pytestmark = pytest.mark.slow  # torchrun with two processes

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs/cmmoco/cmmoco_synth.py')


def options(root, queue_size):
    return data_root_options(root) + [
        'train_dataloader.batch_size=8', 'train_cfg.max_epochs=1',
        'train_cfg.val_interval=1', 'train_cfg.val_begin=1',
        f'model.moco.queue_size={queue_size}',
        'test_evaluator.reciprocal.k=3']


def queued_pids(checkpoint):
    ckpt = torch.load(checkpoint, map_location='cpu', weights_only=False)
    state = ckpt['state_dict']
    return state['moco.pid_queue'], state['moco.queue_ptr'], \
        ckpt['meta']['iter']


def test_two_processes_fill_the_queue_with_both_ranks_keys(
        tiny_synth_root, tmp_path, run_group, free_port):
    # a queue longer than an epoch: after one epoch it holds every
    # training pair each rank saw, i.e. twice what one rank saw
    work = str(tmp_path / 'work')
    log = run_group(['-m', 'torch.distributed.run', '--nproc_per_node', '2',
                     '--master_addr', '127.0.0.1',
                     '--master_port', str(free_port()),
                     osp.join(REPO_ROOT, 'tools/train.py'), CONFIG,
                     '--launcher', 'pytorch', '--work-dir', work, '--test',
                     '--cfg-options'] + options(tiny_synth_root, 4096),
                    cwd=str(tmp_path))
    assert 'Epoch(test)' in log
    pids, ptr, iters = queued_pids(osp.join(work, 'epoch_1.pth'))
    filled = int((pids >= 0).sum())
    assert iters >= 3  # one rank's 8 a step would then fall short
    assert int(ptr) == filled
    # every step wrote the 2 x 8 keys of both ranks (the last may be short)
    assert 16 * (iters - 1) < filled <= 16 * iters
    assert glob.glob(osp.join(work, 'best_R1_epoch_1.pth'))
