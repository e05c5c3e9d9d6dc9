"""A config typo in a ``type`` names the closest registered types,
searching mmengine's root and its other children (mmpretrain) too."""
import pytest

from tbps.registry import HOOKS, MODELS


def test_typo_names_the_closest_tbps_type():
    with pytest.raises(KeyError) as err:
        MODELS.build(dict(type='MomentumITCHed'))
    message = str(err.value)
    assert "Unknown model type 'MomentumITCHed'" in message
    assert 'Did you mean tbps.MomentumITCHead' in message
    assert 'ITMHead' in message  # the list of tbps model types


def test_typo_of_a_type_from_mmpretrain():
    import mmpretrain.models  # noqa: F401  (registers its backbones)
    with pytest.raises(KeyError, match='mmpretrain.VisionTransformer'):
        MODELS.build(dict(type='VisionTransfomer'))
    with pytest.raises(KeyError, match='tbps.LossStageHook'):
        HOOKS.build(dict(type='LossStagHook', stages=[]))


def test_nested_typo_in_a_head_config(tiny_cfg):
    cfg = tiny_cfg('configs/albef/albef_synth.py')
    cfg.heads.itm = dict(type='ITMHaed')
    with pytest.raises(KeyError, match='Did you mean tbps.ITMHead'):
        MODELS.build(cfg)


def test_other_key_errors_pass_through():
    with pytest.raises(KeyError, match='type'):
        MODELS.build(dict(typo='x'))  # no type at all: mmengine's message


def test_a_nested_typo_is_not_blamed_on_the_outer_type(tiny_synth_root):
    from tbps.registry import DATASETS
    with pytest.raises(KeyError) as err:
        DATASETS.build(dict(type='SynthPEDES', data_root=tiny_synth_root,
                            split='test', pipeline=[
                                dict(type='LoadImagFromFile')]))
    message = str(err.value)
    assert 'LoadImagFromFile' in message
    assert "Unknown dataset type 'SynthPEDES'" not in message
