"""APTM end to end with tools/train.py on tiny synthetic data: pre-train
with the attribute prompts on the MALS-like corpus, fine-tune from that
checkpoint with the EDA view on SynthPEDES, test."""
import glob
import os.path as osp
import re

import pytest

from conftest import data_root_options

pytestmark = pytest.mark.slow  # CLI runs in child processes

SHRINK = ['model.image_encoder.arch.embed_dims=16',
          'model.image_encoder.arch.depths=[1,1,1]',
          'model.image_encoder.arch.num_heads=[1,2,2]',
          'model.text_encoder.num_layers=1',
          'model.fusion_encoder.num_layers=1',
          'train_dataloader.batch_size=8', 'train_cfg.max_epochs=1',
          'train_cfg.val_interval=1', 'train_cfg.val_begin=1',
          'default_hooks.logger.interval=1']


def losses(log, names):
    """The last logged value of each loss name."""
    out = {}
    for name in names:
        found = re.findall(rf'{name}: ([0-9.]+)', log)
        assert found, f'{name} not logged'
        out[name] = float(found[-1])
    return out


def test_pretrain_with_attributes_then_finetune_with_eda(
        tmp_path, tiny_synth_root, run_script):
    from tbps.datasets.synth import make_synth_mals
    mals = make_synth_mals(str(tmp_path / 'mals'), num_ids=16,
                           views_per_id=1, num_workers=1)
    pre = str(tmp_path / 'pre')
    opts = data_root_options(tiny_synth_root) + SHRINK
    log = run_script([
        'tools/train.py', 'configs/aptm/aptm_synth_pretrain.py',
        '--work-dir', pre, '--cfg-options'] + opts + [
        f'train_dataloader.dataset.data_root={mals}',
        'train_dataloader.dataset.generate=False'])
    attr = losses(log, ['loss_attr_itc', 'loss_attr_itm', 'loss_attr_mlm'])
    assert all(v > 0 for v in attr.values())
    assert 'loss_itc_eda' not in log  # no EDA view in pre-training
    ckpt = osp.join(pre, 'epoch_1.pth')
    assert osp.isfile(ckpt)

    fine = str(tmp_path / 'fine')
    log = run_script([
        'tools/train.py', 'configs/aptm/aptm_synth_pretrained.py',
        '--work-dir', fine, '--test', '--cfg-options', f'load_from={ckpt}'] +
        opts)
    assert 'Load checkpoint from' in log and ckpt in log
    losses(log, ['loss_itc_eda', 'loss_itm_eda', 'loss_mlm'])
    assert 'loss_attr' not in log
    assert glob.glob(osp.join(fine, 'best_R1_epoch_*.pth'))
    assert 'Epoch(test)' in log and 'mINP' in log
