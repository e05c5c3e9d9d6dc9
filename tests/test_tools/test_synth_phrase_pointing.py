"""tools/analysis_tools/synth_phrase_pointing.py: colour masks, phrase
selection and a run on a tiny LAIP model."""
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import save_checkpoint

from tbps.datasets.synth.attributes import COLORS
from tbps.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'analysis_tools'))
import synth_phrase_pointing as spp  # noqa: E402

CONFIG = osp.join(REPO_ROOT, 'configs/laip/laip_synth.py')


def test_color_fractions_per_patch_row_major():
    image = np.zeros((8, 4, 3), dtype=np.uint8) + 128  # gray
    image[0:2, 2:4] = COLORS['red']            # patch (0, 1) all red
    image[6, 0] = np.array(COLORS['red']) - 20  # one near-red pixel
    frac = spp.color_fractions(image, 'red', grid=(4, 2))
    expected = np.zeros(8)
    expected[1], expected[6] = 1.0, 0.25
    np.testing.assert_allclose(frac, expected)
    # nothing is red once the allowed distance is tiny
    assert spp.color_fractions(image, 'red', (4, 2), max_dist=1.0)[6] == 0
    with pytest.raises(ValueError, match='3x2 patch grid'):
        spp.color_fractions(image, 'red', grid=(3, 2))


def test_color_phrases_one_saturated_colour_word():
    phrases = ['a red coat', 'a grey bag', 'red and blue shoes', 'the man',
               'long purple pants']
    assert spp.color_phrases(phrases) == [('a red coat', 1, 'red'),
                                          ('long purple pants', 1, 'purple')]
    assert ('a grey bag', 1, 'gray') in spp.color_phrases(
        phrases, colors=('gray',))


@pytest.mark.slow  # the whole tool on a synth split (~10 s)
def test_runs_on_a_tiny_laip_model(tiny_synth_root, tmp_path, capsys):
    cfg = Config.fromfile(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    ckpt = str(tmp_path / 'laip.pth')
    save_checkpoint(model.state_dict(), ckpt)
    result = spp.main([
        CONFIG, ckpt, '--limit', '6', '--cfg-options',
        f'val_dataloader.dataset.data_root={tiny_synth_root}'])
    assert result['phrases'] == 6
    assert set(result) >= {'forward', 'backward', 'bidirectional'}
    for mode in spp.MODES:
        assert 0 <= result[mode]['mass'] <= 1
        assert 0 <= result[mode]['hit'] <= 1
    assert 0 < result['uniform'] <= 1
    out = capsys.readouterr().out
    assert '| bidirectional |' in out and 'fusion layer 1' in out
