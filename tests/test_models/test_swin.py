"""SwinImageEncoder (APTM's Swin-B at 384x128) and the official Swin
checkpoint converter, checked against timm's Swin (which runs official
weights after timm's own key filter) on generated official-layout
weights."""
import pytest
import torch

from tbps.converters.swin import convert_swin_state_dict, merge_order
from tbps.models.encoders import SwinImageEncoder

ARCH = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8])


def official_state_dict(timm_model):
    """timm's Swin keys -> the official layout (downsample at the end of
    stage i, not at the start of stage i + 1; buffers present)."""
    import re
    out = {}
    for key, value in timm_model.state_dict().items():
        key = re.sub(r'^layers\.(\d+)\.downsample',
                     lambda m: f'layers.{int(m.group(1)) - 1}.downsample',
                     key)
        out[key] = value.clone()
    out['layers.0.blocks.0.attn.relative_position_index'] = \
        torch.zeros(49, 49, dtype=torch.long)
    out['head.weight'] = torch.zeros(5, 256)
    return out


def test_merge_order_matches_unfold():
    # a 2x2 patch of one channel c laid out the official way -> unfold
    x = torch.arange(8.).reshape(2, 4)  # official [pos, ch] for C=2
    flat = x.reshape(-1)                # positions (0,0),(1,0),(0,1),(1,1)
    out = merge_order(flat)
    # unfold order: channel-major, positions (0,0),(0,1),(1,0),(1,1)
    assert out.tolist() == [0., 4., 2., 6., 1., 5., 3., 7.]


def test_converted_weights_give_timm_features():
    timm = pytest.importorskip('timm')
    torch.manual_seed(0)
    reference = timm.create_model(
        'swin_tiny_patch4_window7_224', pretrained=False, embed_dim=32,
        depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), num_classes=0).eval()
    with torch.no_grad():  # away from the default init
        for p in reference.parameters():
            p.add_(0.05 * torch.randn_like(p))
    src = official_state_dict(reference)
    new, report = convert_swin_state_dict({'model': src}, prefix='')
    assert report['unmapped'] == []
    assert 'head.weight' in report['dropped']
    encoder = SwinImageEncoder(arch=ARCH, img_size=(224, 224),
                               window_sizes=(7, 7, 7, 7),
                               drop_path_rate=0.0).eval()
    result = encoder.backbone.load_state_dict(new, strict=False)
    assert result.unexpected_keys == []
    assert all('relative_position_index' in k for k in result.missing_keys)
    images = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        expected = reference.forward_features(images).flatten(1, 2)
        pooled, tokens = encoder(images)
    assert tokens.shape == (2, 1 + 49, 256)
    assert (tokens[:, 1:] - expected).abs().max() < 1e-4
    assert torch.allclose(pooled, expected.mean(1), atol=1e-4)


def test_aptm_geometry_and_window_resize_on_load():
    """384x128: windows 8, 8, 8 and 4; 1 + 48 output tokens; a 7x7-window
    checkpoint loads with its relative-position tables resized."""
    torch.manual_seed(0)
    src_encoder = SwinImageEncoder(arch=ARCH, img_size=(224, 224),
                                   window_sizes=(7, 7, 7, 7))
    encoder = SwinImageEncoder(arch=ARCH, img_size=(384, 128))
    assert encoder.window_sizes == [8, 8, 8, 4]
    encoder.load_state_dict(src_encoder.state_dict(), strict=False)
    table = encoder.backbone.stages[0].blocks[0].attn.w_msa \
        .relative_position_bias_table
    assert table.shape[0] == (2 * 8 - 1) ** 2
    with torch.no_grad():
        pooled, tokens = encoder(torch.randn(1, 3, 384, 128))
    assert tokens.shape == (1, 49, 256) and pooled.shape == (1, 256)
    assert encoder.embed_dim == 256


def test_cli(tmp_path, load_tool):
    timm = pytest.importorskip('timm')
    reference = timm.create_model(
        'swin_tiny_patch4_window7_224', pretrained=False, embed_dim=32,
        depths=(2, 2, 2, 2), num_heads=(1, 2, 4, 8), num_classes=0)
    src = tmp_path / 'swin_official.pth'
    torch.save({'model': official_state_dict(reference)}, str(src))
    dst = tmp_path / 'swin_tbps.pth'
    tool = load_tool('tools/model_converters/swin2tbps.py')
    assert tool.main([str(src), str(dst)]) == 0
    saved = torch.load(str(dst), weights_only=True)
    assert 'image_encoder.backbone.norm3.weight' in saved['state_dict']
    with pytest.raises(ValueError, match='Not an official Swin'):
        convert_swin_state_dict({'model': {'x': torch.ones(1)}})
