import pytest
import torch
from mmengine.config import Config

from tbps.registry import MODELS


@pytest.fixture
def tiny_aga_files(tiny_synth_root, tiny_cfg, tmp_path):
    """``(config, checkpoint)`` paths: ``configs/aga/aga_synth.py`` with the
    tiny fusion model on the tiny SynthPEDES, and its random weights
    (seed 0)."""
    cfg = Config.fromfile('configs/aga/aga_synth.py')
    cfg.model = tiny_cfg('configs/aga/aga_synth.py')
    for loader in ('train_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = tiny_synth_root
    cfg.train_dataloader.batch_size = 8
    config = tmp_path / 'aga_tiny.py'
    cfg.dump(str(config))
    torch.manual_seed(0)
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()},
               str(checkpoint))
    return str(config), str(checkpoint)
