"""A non-finite loss stops training with an actionable error; checkpoints
are written atomically (a kill during a save leaves no truncated file)."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

import tbps  # noqa: F401  (atomic local backend)
from tbps.engine import FiniteLossHook


class _Runner:
    def __init__(self, hub):
        self.iter, self.epoch, self.message_hub = 41, 2, hub


def test_hook_names_iteration_term_and_checkpoint():
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('finite_loss_test')
    hook = FiniteLossHook()
    runner = _Runner(hub)
    hook.after_train_iter(runner, 0, outputs=dict(
        loss=torch.tensor(1.0), loss_itc=torch.tensor(0.5), acc=float('nan')))
    hub.update_info('last_ckpt', 'work_dirs/x/epoch_2.pth')
    with pytest.raises(FloatingPointError) as err:
        hook.after_train_iter(runner, 6, outputs=dict(
            loss=torch.tensor(float('nan')), loss_itc=torch.tensor(0.5),
            loss_itm=torch.tensor(float('inf'))))
    message = str(err.value)
    assert 'iteration 42' in message and 'batch 7' in message
    assert 'loss_itm=inf' in message and 'loss_itc' not in message
    assert '--resume work_dirs/x/epoch_2.pth' in message


def test_runner_stops_at_nan(tiny_synth_root, tmp_path):
    cfg = Config.fromfile('configs/clip/clip_synth.py')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = tiny_synth_root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    cfg.train_dataloader.batch_size = 8
    cfg.model.image_encoder.layers = 1
    cfg.model.text_encoder.layers = 1
    cfg.work_dir = str(tmp_path)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    with torch.no_grad():  # NaN weights: the first loss is NaN
        runner.model.image_proj.proj.weight.fill_(float('nan'))
    with pytest.raises(FloatingPointError, match='iteration 1 .*loss_itc='
                       'nan.*none saved yet'):
        runner.train()


KILLED_SAVE = r'''
import sys, torch
import tbps
from mmengine.runner.checkpoint import save_checkpoint
save_checkpoint({'state_dict': {'w': torch.zeros(150_000_000)}}, sys.argv[1])
'''


@pytest.mark.slow
def test_kill_during_save_leaves_the_old_checkpoint(tmp_path):
    path = str(tmp_path / 'epoch_1.pth')
    torch.save({'state_dict': {'w': torch.ones(3)}}, path)
    proc = subprocess.Popen([sys.executable, '-c', KILLED_SAVE, path])
    deadline = time.time() + 120
    # wait until the new file is being written (a temporary next to it)
    while time.time() < deadline:
        tmp = [f for f in os.listdir(tmp_path) if f.endswith('.tmp')]
        if tmp and os.path.getsize(osp.join(tmp_path, tmp[0])) > 1 << 20:
            break
        time.sleep(0.005)
    else:
        proc.kill()
        pytest.fail('the save never started writing')
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    old = torch.load(path, weights_only=True)
    assert torch.equal(old['state_dict']['w'], torch.ones(3))
