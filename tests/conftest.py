"""Shared fixtures: a tiny SynthPEDES generated once per test session."""
import os

import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SYNTH = dict(num_train_ids=12, num_val_ids=6, num_test_ids=6,
                  views_per_id=2)


@pytest.fixture(scope='session')
def tiny_synth_root(tmp_path_factory):
    """A small SynthPEDES (seed 0) in CUHK-PEDES layout."""
    from tbps.datasets.synth import make_synth_pedes
    root = tmp_path_factory.mktemp('synth') / 'synth_pedes'
    make_synth_pedes(str(root), seed=0, num_workers=1, **TINY_SYNTH)
    return str(root)


@pytest.fixture(scope='session')
def tiny_cli_options():
    """``--cfg-options`` for a seconds-long CLI run of a synth config on a
    given data root: no workers, batch 8, one-layer encoders (the CLIP
    synth config's CLIPVisionEncoder / CLIPTextEncoder)."""
    def options(root):
        opts = []
        for loader in ('train_dataloader', 'val_dataloader',
                       'test_dataloader'):
            opts += [f'{loader}.dataset.data_root={root}',
                     f'{loader}.num_workers=0',
                     f'{loader}.persistent_workers=False']
        return opts + ['train_dataloader.batch_size=8',
                       'train_cfg.val_interval=1',
                       'model.image_encoder.layers=1',
                       'model.text_encoder.layers=1']
    return options


@pytest.fixture(autouse=True)
def _tbps_scope():
    from mmengine.registry import init_default_scope
    init_default_scope('tbps')
    yield
