import pytest
import torch

from tbps.registry import MODELS


def attention_and_gradient(b=2, heads=3, length=4, patches=6, hot=3):
    """Forward attention and gradient that both single out patch ``hot``
    (column ``hot + 1``, after the image [CLS] column)."""
    torch.manual_seed(0)
    attn = torch.rand(b, heads, length, patches + 1)
    attn[:, :, :, hot + 1] += 2.0
    attn = attn / attn.sum(-1, keepdim=True)
    grad = torch.randn(b, heads, length, patches + 1) * 0.01
    grad[:, :, :, hot + 1] = 0.5
    return attn, grad


@pytest.mark.parametrize('mode,combine', [('bidirectional', 'product'),
                                          ('bidirectional', 'sum'),
                                          ('forward', 'product'),
                                          ('backward', 'product')])
def test_weights_are_a_distribution_peaking_at_matching_patch(mode, combine):
    pool = MODELS.build(dict(type='BidirAttentionPooling', mode=mode,
                             combine=combine))
    attn, grad = attention_and_gradient()
    w = pool.weights(attn, grad)
    assert w.shape == (2, 6)
    assert (w >= 0).all()
    assert torch.allclose(w.sum(-1), torch.ones(2), atol=1e-6)
    assert (w.argmax(-1) == 3).all()


def test_pooling_is_the_weighted_sum_of_patches():
    pool = MODELS.build(dict(type='BidirAttentionPooling'))
    attn, grad = attention_and_gradient()
    patches = torch.randn(2, 6, 5)
    pooled, w = pool(patches, attn, grad)
    assert torch.allclose(pooled, (w[..., None] * patches).sum(1), atol=1e-6)


def test_backward_attention_changes_the_weights():
    """Gradient evidence moves weight towards a patch the forward
    attention alone does not prefer."""
    attn = torch.full((1, 1, 2, 5), 0.2)  # uniform forward attention
    grad = torch.zeros(1, 1, 2, 5)
    grad[0, 0, 0, 2] = 1.0  # patch 1 helps the masked-word prediction
    fwd = MODELS.build(dict(type='BidirAttentionPooling', mode='forward'))
    bid = MODELS.build(dict(type='BidirAttentionPooling'))
    assert torch.allclose(fwd.weights(attn, grad), torch.full((1, 4), 0.25))
    assert bid.weights(attn, grad)[0].tolist() == [0.0, 1.0, 0.0, 0.0]


def test_all_zero_gradient_falls_back_to_forward_attention():
    pool = MODELS.build(dict(type='BidirAttentionPooling'))
    attn, _ = attention_and_gradient()
    w = pool.weights(attn, torch.zeros_like(attn))
    expected = attn[:, :, 0, 1:].mean(1)
    assert torch.allclose(w, expected / expected.sum(-1, keepdim=True))


def test_bad_arguments():
    with pytest.raises(ValueError, match='mode'):
        MODELS.build(dict(type='BidirAttentionPooling', mode='sideways'))
    pool = MODELS.build(dict(type='BidirAttentionPooling'))
    with pytest.raises(ValueError, match='gradient'):
        pool.weights(torch.rand(1, 1, 2, 3))
