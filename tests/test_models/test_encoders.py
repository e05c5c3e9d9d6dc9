"""Output shapes of every encoder in tbps.models.encoders: images
[B, 3, H, W] -> (global [B, C], tokens [B, 1 + (H/p)(W/p), C]) with [CLS]
first; text [B, L] -> (global [B, C], tokens [B, L, C]); ``embed_dim`` = C.
Tiny sizes run for real; the default (full) sizes are built and, where the
forward allows it, run on the meta device (shapes only, no memory)."""
import pytest
import torch

from tbps.models.encoders import (BertTextEncoder, CLIPTextEncoder,
                                  CLIPVisionEncoder, ViTImageEncoder)
from tbps.registry import MODELS

B, C = 2, 32
IMG = (64, 32)
PATCH = 16
N_TOKENS = 1 + (64 // 16) * (32 // 16)  # [CLS] + a 4x2 patch grid = 9
L = 7


def tiny_vit(img_size=IMG, patch_size=PATCH):
    return ViTImageEncoder(
        arch=dict(embed_dims=C, num_layers=1, num_heads=2,
                  feedforward_channels=64),
        img_size=img_size, patch_size=patch_size)


def tiny_clip_vision(img_size=IMG, patch_size=PATCH):
    return CLIPVisionEncoder(width=C, layers=1, heads=2,
                             patch_size=patch_size, img_size=img_size)


def tiny_bert():
    return BertTextEncoder(
        config=dict(hidden_size=C, num_attention_heads=2,
                    intermediate_size=64), num_layers=1, vocab_size=100)


def tiny_clip_text():
    return CLIPTextEncoder(vocab_size=100, context_length=16, width=C,
                           layers=1, heads=2)


def text_batch():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 90, (B, L), generator=g)
    ids[0, 4], ids[1, 6] = 99, 99  # an end token (top id) per row
    mask = torch.ones(B, L, dtype=torch.long)
    mask[0, 5:] = 0  # right padding after row 0's end token
    ids[0, 5:] = 0
    return ids, mask


def check(out, n, c=C, b=B):
    assert isinstance(out, tuple) and len(out) == 2
    glob, tokens = out
    assert glob.shape == (b, c)
    assert tokens.shape == (b, n, c)


@pytest.mark.parametrize('build', [tiny_vit, tiny_clip_vision],
                         ids=['ViTImageEncoder', 'CLIPVisionEncoder'])
def test_image_encoders(build):
    torch.manual_seed(0)
    enc = build().eval()
    assert enc.embed_dim == C
    assert tuple(enc.patch_grid) == (4, 2)
    with torch.no_grad():
        glob, tokens = enc(torch.randn(B, 3, *IMG))
    check((glob, tokens), N_TOKENS)
    # the global feature is the [CLS] token, first in the sequence
    torch.testing.assert_close(glob, tokens[:, 0])


@pytest.mark.parametrize('build', [tiny_vit, tiny_clip_vision],
                         ids=['ViTImageEncoder', 'CLIPVisionEncoder'])
@pytest.mark.parametrize('img_size,patch,n', [((96, 32), 16, 1 + 6 * 2),
                                              ((64, 64), 32, 1 + 2 * 2),
                                              ((48, 24), 8, 1 + 6 * 3)])
def test_image_token_count_follows_size_and_patch(build, img_size, patch, n):
    enc = build(img_size=img_size, patch_size=patch).eval()
    with torch.no_grad():
        check(enc(torch.randn(1, 3, *img_size)), n, b=1)


def test_bert_text_encoder():
    torch.manual_seed(0)
    enc = tiny_bert().eval()
    assert enc.embed_dim == C
    ids, mask = text_batch()
    with torch.no_grad():
        glob, tokens = enc(ids, mask)
    check((glob, tokens), L)
    torch.testing.assert_close(glob, tokens[:, 0])  # [CLS]


def test_clip_text_encoder():
    torch.manual_seed(0)
    enc = tiny_clip_text().eval()
    assert enc.embed_dim == C
    ids, mask = text_batch()
    with torch.no_grad():
        glob, tokens = enc(ids, mask)
        glob_nomask, _ = enc(ids)
    check((glob, tokens), L)
    # the end-of-text token: last real token (row 0: 4; row 1: 6)
    torch.testing.assert_close(glob, tokens[[0, 1], [4, 6]])
    torch.testing.assert_close(glob_nomask, glob)  # top id: same position


@pytest.mark.parametrize('cls', [ViTImageEncoder, CLIPVisionEncoder,
                                 BertTextEncoder, CLIPTextEncoder],
                         ids=lambda c: c.__name__)
def test_registered_for_configs(cls):
    assert MODELS.get(cls.__name__) is cls


# ------------------------------------------------ default sizes, on meta
def test_full_size_image_encoders_on_meta():
    """ViT-B/16 at 384x128 (24x8 patches): 768-d, 1 + 192 tokens."""
    with torch.device('meta'):
        encs = [ViTImageEncoder(), CLIPVisionEncoder()]
        images = torch.empty(B, 3, 384, 128)
        for enc in encs:
            assert enc.embed_dim == 768
            assert tuple(enc.patch_grid) == (24, 8)
            glob, tokens = enc(images)
            assert glob.is_meta
            check((glob, tokens), 1 + 24 * 8, c=768)


def test_full_size_text_encoders_on_meta():
    with torch.device('meta'):
        clip = CLIPTextEncoder()
        assert clip.embed_dim == 512 and clip.context_length == 77
        ids = torch.zeros(B, 77, dtype=torch.long)
        check(clip(ids, torch.ones(B, 77, dtype=torch.long)), 77, c=512)
        # BERT-base's first 6 layers (ALBEF); its forward calls .item()
        # on the mask, so only the construction is checked on meta.
        bert = BertTextEncoder()
        assert bert.embed_dim == 768
        assert len(bert.bert.encoder.layer) == 6
        assert bert.word_embeddings.weight.shape == (30522, 768)
