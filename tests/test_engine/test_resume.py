"""--resume after SIGKILL continues to the same weights as an uninterrupted
run: momentum encoders, queues and pointers, the LAIP stage, the sampler
and the RNG states (RNGStateHook) included."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from conftest import data_root_options

pytestmark = pytest.mark.slow  # three real tools/train.py runs

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def options(root):
    return data_root_options(root) + [
        'train_dataloader.batch_size=8', 'train_cfg.max_epochs=3',
        'train_cfg.val_interval=10', 'train_cfg.val_begin=1',
        'custom_hooks.0.stages.1.begin=2',
        'model.image_encoder.arch.num_layers=1',
        'model.text_encoder.num_layers=1']


def command(root, work, *extra, workers=0):
    # persistent workers: augmentation (flips) drawn in worker processes
    loader = [f'train_dataloader.num_workers={workers}',
              f'train_dataloader.persistent_workers={bool(workers)}']
    return [sys.executable, osp.join(REPO_ROOT, 'tools/train.py'),
            osp.join(REPO_ROOT, 'configs/laip/laip_synth.py'),
            '--work-dir', work, *extra, '--cfg-options'] + options(root) + \
        loader


@pytest.mark.parametrize('workers', [0, 2])
def test_resume_after_kill_matches_uninterrupted(tiny_synth_root, tmp_path,
                                                 workers):
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    whole, killed = str(tmp_path / 'whole'), str(tmp_path / 'killed')
    subprocess.run(command(tiny_synth_root, whole, workers=workers), env=env,
                   check=True, capture_output=True, timeout=900)
    proc = subprocess.Popen(command(tiny_synth_root, killed,
                                    workers=workers), env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    pointer = osp.join(killed, 'last_checkpoint')
    while time.time() < deadline and proc.poll() is None:
        if osp.isfile(pointer) and 'epoch_1' in open(pointer).read():
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # somewhere in epoch 2
    proc.wait()
    assert osp.isfile(osp.join(killed, 'epoch_1.pth'))
    subprocess.run(command(tiny_synth_root, killed, '--resume',
                           workers=workers), env=env,
                   check=True, capture_output=True, timeout=900)
    a = torch.load(osp.join(whole, 'epoch_3.pth'), weights_only=True)
    b = torch.load(osp.join(killed, 'epoch_3.pth'), weights_only=True)
    sa, sb = a['state_dict'], b['state_dict']
    assert set(sa) == set(sb)
    for key in sa:
        if sa[key].is_floating_point():
            assert torch.allclose(sa[key], sb[key], atol=1e-5), key
        else:
            assert torch.equal(sa[key], sb[key]), key
    # the queues and their pointer, the momentum copies, the LAIP stage
    assert 'heads.itc.loss_module.queue_ptr' in sa
    assert any(k.startswith('momentum.module.') for k in sa)
    assert len(b['rng_state']) == 1


def test_same_seed_one_thread_is_bitwise_reproducible(tiny_synth_root,
                                                      tmp_path):
    """Same seed, same machine, one CPU thread: identical weights. (With
    two threads the kernels' reduction order varies: 1e-4 apart after two
    tiny epochs, measured 2026-12-01.)"""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    weights = []
    for run in ('a', 'b'):
        work = str(tmp_path / run)
        subprocess.run(command(tiny_synth_root, work), env=env, check=True,
                       capture_output=True, timeout=900)
        weights.append(torch.load(osp.join(work, 'epoch_3.pth'),
                                  weights_only=True)['state_dict'])
    for key in weights[0]:
        assert torch.equal(weights[0][key], weights[1][key]), key
