"""amp_optim_wrapper: the config change behind tools/train.py --amp."""
import os.path as osp

from mmengine.config import Config

from tbps.engine import amp_optim_wrapper

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_amp_optim_wrapper_copies_and_defaults_to_dynamic_scaling():
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/irra/irra_synth.py')).optim_wrapper
    amp = amp_optim_wrapper(cfg)
    assert amp['type'] == 'AmpOptimWrapper'
    assert amp['loss_scale'] == 'dynamic'
    assert amp['optimizer'] == cfg['optimizer']
    assert amp.get('paramwise_cfg') == cfg.get('paramwise_cfg')
    assert cfg.get('type', 'OptimWrapper') == 'OptimWrapper'  # not mutated
    assert 'loss_scale' not in cfg


def test_amp_optim_wrapper_keeps_a_configured_loss_scale():
    amp = amp_optim_wrapper(dict(optimizer=dict(type='SGD', lr=0.1),
                                 loss_scale=512.0))
    assert amp['loss_scale'] == 512.0
