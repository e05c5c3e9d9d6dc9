import torch

from tbps.registry import MODELS


def test_causal_eot_pooling_ignores_padding_and_later_tokens():
    torch.manual_seed(0)
    enc = MODELS.build(dict(type='CLIPTextEncoder', vocab_size=100,
                            context_length=16, width=32, layers=2, heads=4))
    enc.eval()
    # EOT (largest id, 99) at position 3; padding after it.
    a = torch.tensor([[98, 5, 6, 99, 0, 0]])
    b = torch.tensor([[98, 5, 6, 99, 7, 8]])  # different tokens after EOT
    ga, ta = enc(a, (a > 0).long())
    gb, tb = enc(b)  # no mask: CLIP's rule, the largest id ends the text
    assert torch.allclose(ga, gb, atol=1e-6)
    assert torch.allclose(ta[:, :4], tb[:, :4], atol=1e-6)
    assert torch.allclose(ga[0], ta[0, 3])
    # A change before EOT does change the pooled feature.
    c = torch.tensor([[98, 9, 6, 99, 0, 0]])
    assert not torch.allclose(enc(c)[0], ga)


def test_openai_parameter_names():
    enc = MODELS.build(dict(type='CLIPTextEncoder', vocab_size=50,
                            context_length=8, width=16, layers=1, heads=2))
    keys = set(enc.state_dict())
    for k in ('token_embedding.weight', 'positional_embedding',
              'transformer.resblocks.0.attn.in_proj_weight',
              'transformer.resblocks.0.attn.out_proj.weight',
              'transformer.resblocks.0.ln_1.weight',
              'transformer.resblocks.0.mlp.c_fc.weight',
              'transformer.resblocks.0.mlp.c_proj.bias',
              'transformer.resblocks.0.ln_2.bias', 'ln_final.weight'):
        assert k in keys, k


def test_pools_last_real_token_with_bert_style_ids():
    """With a WordPiece vocabulary the end token ([SEP]=3) is not the
    largest id; the attention mask locates it."""
    torch.manual_seed(0)
    enc = MODELS.build(dict(type='CLIPTextEncoder', vocab_size=100,
                            context_length=16, width=32, layers=1, heads=4))
    ids = torch.tensor([[2, 50, 90, 3, 0], [2, 60, 3, 0, 0]])
    mask = (ids > 0).long()
    pooled, tokens = enc(ids, mask)
    assert torch.allclose(pooled[0], tokens[0, 3])
    assert torch.allclose(pooled[1], tokens[1, 2])
