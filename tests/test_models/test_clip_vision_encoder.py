"""CLIPVisionEncoder: OpenAI names, IRRA's outputs, position-embedding
resize (function and at load time)."""
import pytest
import torch
import torch.nn.functional as F

from tbps.models.utils.pos_embed import (resize_clip_pos_embed,
                                            square_grid)
from tbps.registry import MODELS


def build(img_size=(64, 32), patch_size=16, width=32, layers=2, heads=2,
          seed=0):
    torch.manual_seed(seed)
    enc = MODELS.build(dict(type='CLIPVisionEncoder', width=width,
                            layers=layers, heads=heads,
                            patch_size=patch_size, img_size=img_size))
    enc.eval()
    return enc


def test_openai_parameter_names_and_shapes():
    enc = build(img_size=(384, 128))
    sd = enc.state_dict()
    assert enc.embed_dim == 32 and enc.patch_grid == (24, 8)
    assert sd['conv1.weight'].shape == (32, 3, 16, 16)
    assert 'conv1.bias' not in sd  # OpenAI's patch embedding has no bias
    assert sd['class_embedding'].shape == (32, )
    assert sd['positional_embedding'].shape == (1 + 24 * 8, 32)
    for k in ('ln_pre.weight', 'ln_post.bias',
              'transformer.resblocks.1.attn.in_proj_weight',
              'transformer.resblocks.0.attn.out_proj.bias',
              'transformer.resblocks.0.ln_1.weight',
              'transformer.resblocks.1.mlp.c_fc.weight',
              'transformer.resblocks.1.mlp.c_proj.bias',
              'transformer.resblocks.0.ln_2.bias'):
        assert k in sd, k
    # `proj` belongs to the retriever's image_proj neck.
    assert not any(k == 'proj' or k.endswith('.proj') for k in sd)


def test_forward_global_is_ln_post_cls():
    enc = build()
    with torch.no_grad():
        enc.ln_post.weight.uniform_(0.5, 1.5)
        enc.ln_post.bias.normal_()
    images = torch.randn(3, 3, 64, 32)
    with torch.no_grad():
        glob, tokens = enc(images)
        # Reference: the pre-ln_post sequence, computed by hand.
        x = enc.conv1(images).flatten(2).transpose(1, 2)
        cls = enc.class_embedding.expand(3, 1, -1)
        x = torch.cat([cls, x], 1) + enc.positional_embedding
        x = enc.transformer(enc.ln_pre(x))
        expected = F.layer_norm(x, (32, ), enc.ln_post.weight,
                                enc.ln_post.bias)
    assert glob.shape == (3, 32) and tokens.shape == (3, 1 + 4 * 2, 32)
    assert torch.allclose(tokens, expected, atol=1e-5)
    assert torch.equal(glob, tokens[:, 0])
    # Every image token is mixed by attention: a patch change moves [CLS].
    images2 = images.clone()
    images2[:, :, :16, :16] += 1
    with torch.no_grad():
        assert not torch.allclose(enc(images2)[0], glob, atol=1e-4)


def test_wrong_input_size_is_explained():
    enc = build()
    with pytest.raises(ValueError, match=r'built for \(64, 32\)'):
        enc(torch.randn(1, 3, 32, 32))


# -- position-embedding resize ------------------------------------------------
def test_resize_shape_cls_and_identity():
    pos = torch.randn(1 + 14 * 14, 8)
    out = resize_clip_pos_embed(pos, (14, 14), (24, 8))
    assert out.shape == (1 + 24 * 8, 8)
    assert torch.equal(out[0], pos[0])  # [CLS] untouched
    assert torch.equal(resize_clip_pos_embed(pos, (14, 14), (14, 14)), pos)
    batched = resize_clip_pos_embed(pos[None], (14, 14), (24, 8))
    assert batched.shape == (1, 193, 8) and torch.equal(batched[0], out)
    assert square_grid(196) == (14, 14) and square_grid(192) is None
    with pytest.raises(ValueError, match='14x13'):
        resize_clip_pos_embed(pos, (14, 13), (24, 8))


def test_resize_matches_bilinear_interpolation_row_major():
    torch.manual_seed(0)
    grid = torch.randn(6, 5, 4)  # (gh, gw, C)
    pos = torch.cat([torch.randn(1, 4), grid.reshape(30, 4)])
    out = resize_clip_pos_embed(pos, (6, 5), (9, 3))
    expected = F.interpolate(grid.permute(2, 0, 1)[None], size=(9, 3),
                             mode='bilinear', align_corners=False)
    assert torch.allclose(out[1:], expected[0].permute(1, 2, 0).reshape(
        27, 4), atol=1e-6)
    # Orientation: values that depend on the row only keep doing so (a
    # height/width swap or column-major flattening would mix them).
    rows = torch.arange(14.)[:, None, None].expand(14, 14, 2)
    out = resize_clip_pos_embed(torch.cat([torch.zeros(1, 2),
                                           rows.reshape(-1, 2)]),
                                (14, 14), (24, 8))[1:].reshape(24, 8, 2)
    assert torch.allclose(out, out[:, :1].expand(24, 8, 2))
    assert torch.all(out[1:, 0, 0] >= out[:-1, 0, 0])
    assert out[0, 0, 0] == 0 and out[-1, 0, 0] == 13
    # float16 (OpenAI's archives) is interpolated in float32, kept float16.
    half = resize_clip_pos_embed(pos.half(), (6, 5), (9, 3))
    assert half.dtype == torch.float16


def test_load_state_dict_resizes_square_grid():
    from mmengine.runner.checkpoint import load_state_dict
    src = build(img_size=(224, 224), seed=1)  # 14x14 grid
    sd = src.state_dict()
    expected = resize_clip_pos_embed(sd['positional_embedding'], (14, 14),
                                     (24, 8))
    tall = build(img_size=(384, 128), seed=2)
    result = tall.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert torch.equal(tall.positional_embedding, expected)
    assert torch.equal(tall.class_embedding, sd['class_embedding'])
    assert sd['positional_embedding'].shape == (197, 32)  # input untouched
    # mmengine's loader (load_from / load_checkpoint) goes through the same
    # hook, also under a parent module's prefix.
    parent = torch.nn.Module()
    parent.image_encoder = build(img_size=(384, 128), seed=3)
    load_state_dict(parent, {f'image_encoder.{k}': v for k, v in sd.items()},
                    strict=True)
    assert torch.equal(parent.image_encoder.positional_embedding, expected)
    # A non-square source grid is ambiguous: the mismatch is reported.
    bad = dict(sd, positional_embedding=torch.randn(1 + 12 * 4, 32))
    with pytest.raises(RuntimeError, match='size mismatch'):
        build(img_size=(384, 128)).load_state_dict(bad)
