"""TBPSVisualizer pictures and the visualization tools on tiny models."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from tbps.registry import VISUALIZERS
from tbps.visualization import TBPSVisualizer, phrase_attention


def test_registered_and_draws_maps():
    vis = VISUALIZERS.build(dict(type='TBPSVisualizer', name='t_maps'))
    assert isinstance(vis, TBPSVisualizer)
    image = np.zeros((64, 32, 3), np.uint8)
    maps = {'forward': np.eye(8, 4), 'backward': np.ones((8, 4))}
    out = vis.draw_attention(image, maps, title='a red coat')
    # image + two maps side by side
    assert out.shape[1] == 3 * (vis.tile[0] + 6) + 6
    panel = out[-(vis.tile[1] + 14 + 6):, 6 + vis.tile[0] + 6:][:10]
    assert panel.std() > 0  # the forward map is not uniform


def test_phrase_attention_maps_of_laip(tiny_cfg):
    from tbps.registry import MODELS
    model = MODELS.build(tiny_cfg()).eval()
    image = torch.randn(1, 3, 64, 32)
    maps, grid = phrase_attention(model, image, 'a purple jacket')
    assert grid == (8, 4)
    assert set(maps) == {'forward', 'backward', 'bidirectional'}
    for weights in maps.values():
        assert weights.shape == grid
        assert torch.isclose(weights.sum(), torch.tensor(1.0), atol=1e-5)
        assert (weights >= 0).all()


@pytest.mark.slow
def test_tools_write_pictures(tiny_synth_root, tmp_path, load_tool):
    data = f'test_dataloader.dataset.data_root={tiny_synth_root}'
    image = sorted(glob.glob(osp.join(tiny_synth_root, 'imgs', 'test',
                                      '*.jpg')))[0]
    out = tmp_path / 'att.png'
    tool = load_tool('tools/visualization/vis_attention.py')
    assert tool.main(['configs/laip/laip_synth.py', 'none', '--image', image,
                      '--phrase', 'a blue backpack', '--out', str(out),
                      '--cfg-options', 'model.image_encoder.arch.num_layers=1'
                      ]) == 0
    width = Image.open(out).width
    assert width == 4 * (TBPSVisualizer.tile[0] + 6) + 6  # image + 3 maps
    tool = load_tool('tools/visualization/vis_retrieval.py')
    assert tool.main(['configs/clip/clip_synth.py', 'none', '--queries', '0',
                      '1', '--topk', '4', '--out-dir', str(tmp_path / 'vis'),
                      '--cfg-options', data, 'model.image_encoder.layers=1',
                      'model.text_encoder.layers=1']) == 0
    assert len(glob.glob(str(tmp_path / 'vis' / '**' / '*.png'),
                         recursive=True)) == 2
