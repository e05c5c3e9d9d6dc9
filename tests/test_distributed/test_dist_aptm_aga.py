"""The methods added after LAIP on 2 CPU processes (torchrun, gloo):
APTM's pre-training with the attribute prompts and its fine-tuning from
that checkpoint with the EDA view (in-batch ITC gathered across ranks, twice
per step), and AGA (attention-guided masking, text enrichment switched on
by its stage hook)."""
import os.path as osp

import pytest
from conftest import data_root_options

pytestmark = pytest.mark.slow  # torchrun with two processes

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_SWIN = ['model.image_encoder.arch.embed_dims=16',
             'model.image_encoder.arch.depths=[1,1,1]',
             'model.image_encoder.arch.num_heads=[1,2,2]',
             'model.text_encoder.num_layers=1',
             'model.fusion_encoder.num_layers=1', 'model.rerank.k=4']
ONE_EPOCH = ['train_dataloader.batch_size=8', 'train_cfg.max_epochs=1',
             'train_cfg.val_interval=1', 'train_cfg.val_begin=1']


def torchrun(run_group, free_port, tmp_path, config, work, opts):
    return run_group(['-m', 'torch.distributed.run', '--nproc_per_node', '2',
                      '--master_addr', '127.0.0.1',
                      '--master_port', str(free_port()),
                      osp.join(REPO_ROOT, 'tools/train.py'),
                      osp.join(REPO_ROOT, config), '--launcher', 'pytorch',
                      '--work-dir', work, '--cfg-options'] + opts,
                     cwd=str(tmp_path))


def test_aptm_pretrain_then_finetune_on_two_processes(
        tiny_synth_root, tmp_path, run_group, free_port):
    from tbps.datasets.synth import make_synth_mals
    mals = make_synth_mals(str(tmp_path / 'mals'), num_ids=16,
                           views_per_id=1, num_workers=1)
    pre = str(tmp_path / 'pre')
    log = torchrun(run_group, free_port, tmp_path,
                   'configs/aptm/aptm_synth_pretrain.py', pre,
                   data_root_options(tiny_synth_root) + ONE_EPOCH +
                   TINY_SWIN + [f'train_dataloader.dataset.data_root={mals}',
                                'train_dataloader.dataset.generate=False'])
    assert 'Distributed training: True' in log
    assert 'loss_attr_itc' in log and 'loss_attr_mlm' in log
    ckpt = osp.join(pre, 'epoch_1.pth')
    assert osp.exists(ckpt)
    fine = str(tmp_path / 'fine')
    log = torchrun(run_group, free_port, tmp_path,
                   'configs/aptm/aptm_synth_pretrained.py', fine,
                   data_root_options(tiny_synth_root) + ONE_EPOCH +
                   TINY_SWIN + [f'load_from={ckpt}'])
    assert 'loss_itc_eda' in log and 'loss_itm_eda' in log
    assert 'Epoch(val) [1]' in log
    assert osp.exists(osp.join(fine, 'epoch_1.pth'))


def test_aga_on_two_processes(tiny_synth_root, tmp_path, run_group,
                              free_port):
    work = str(tmp_path / 'aga')
    log = torchrun(run_group, free_port, tmp_path, 'configs/aga/aga_synth.py',
                   work, data_root_options(tiny_synth_root) + [
                       'train_dataloader.batch_size=8',
                       'train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
                       'train_cfg.val_begin=1',
                       'model.image_encoder.arch.num_layers=1',
                       'model.text_encoder.num_layers=1', 'model.rerank.k=4'])
    assert 'tem_replaced' in log  # text enrichment on from epoch 1
    assert 'Epoch(val) [2]' in log
    assert osp.exists(osp.join(work, 'epoch_2.pth'))
