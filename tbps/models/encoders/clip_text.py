"""CLIP text transformer with OpenAI's parameter names."""
from collections import OrderedDict

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tbps.registry import MODELS


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x), the activation OpenAI CLIP was trained with."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class LayerNormFP32(nn.LayerNorm):
    """LayerNorm computed in float32 (stable under fp16 autocast)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


class ResidualAttentionBlock(nn.Module):
    """Pre-norm transformer block: x + attn(ln_1(x)); x + mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float = 4.0,
                 quick_gelu: bool = True):
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = LayerNormFP32(width)
        self.mlp = nn.Sequential(OrderedDict([
            ('c_fc', nn.Linear(width, hidden)),
            ('gelu', QuickGELU() if quick_gelu else nn.GELU()),
            ('c_proj', nn.Linear(hidden, width)),
        ]))
        self.ln_2 = LayerNormFP32(width)

    def forward(self, x, attn_mask=None, key_padding_mask=None):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=attn_mask,
                          key_padding_mask=key_padding_mask,
                          need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A stack of :class:`ResidualAttentionBlock` (``resblocks.{i}``)."""

    def __init__(self, width: int, layers: int, heads: int,
                 quick_gelu: bool = True):
        super().__init__()
        self.width = width
        self.resblocks = nn.ModuleList([
            ResidualAttentionBlock(width, heads, quick_gelu=quick_gelu)
            for _ in range(layers)
        ])

    def forward(self, x, attn_mask=None, key_padding_mask=None):
        for block in self.resblocks:
            x = block(x, attn_mask=attn_mask,
                      key_padding_mask=key_padding_mask)
        return x


@MODELS.register_module()
class CLIPTextEncoder(BaseModule):
    """Causal text transformer of CLIP.

    Parameter names follow OpenAI's state dict without the ``text_projection``
    (a retriever's projection neck owns it): ``token_embedding``,
    ``positional_embedding``, ``transformer.resblocks.{i}.*``, ``ln_final``.

    Forward: input_ids [B, L] (L <= context_length), attention_mask [B, L]
    -> ``(global [B, C], tokens [B, L, C])``; the global feature is the
    final-norm token at the end-of-text position: the last real token when
    ``attention_mask`` is given (padding on the right), else the largest id
    of a row (CLIP's vocabulary puts the end token last).
    """

    def __init__(self, vocab_size: int = 49408, context_length: int = 77,
                 width: int = 512, layers: int = 12, heads: int = 8,
                 quick_gelu: bool = True, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.context_length = context_length
        self.embed_dim = width
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.positional_embedding = nn.Parameter(
            torch.empty(context_length, width))
        self.transformer = Transformer(width, layers, heads, quick_gelu)
        self.ln_final = LayerNormFP32(width)
        self._init_parameters(layers)

    def _init_parameters(self, layers: int):
        width = self.embed_dim
        nn.init.normal_(self.token_embedding.weight, std=0.02)
        nn.init.normal_(self.positional_embedding, std=0.01)
        proj_std = width**-0.5 * (2 * layers)**-0.5
        for block in self.transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=width**-0.5)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=(2 * width)**-0.5)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)

    def forward(self, input_ids: torch.Tensor, attention_mask=None):
        length = input_ids.shape[1]
        if length > self.context_length:
            raise ValueError(f'{length} tokens exceed the context length '
                             f'{self.context_length}.')
        x = self.token_embedding(input_ids)
        x = x + self.positional_embedding[:length].to(x.dtype)
        causal = torch.full((length, length), float('-inf'),
                            device=x.device).triu_(1)
        # Padding follows the end token, so the causal mask already keeps
        # real tokens from attending to it.
        x = self.transformer(x, attn_mask=causal.to(x.dtype))
        x = self.ln_final(x)
        if attention_mask is not None:
            # The end token is the last real token (any vocabulary).
            eot = attention_mask.sum(dim=-1).long() - 1
        else:
            eot = input_ids.argmax(dim=-1)  # CLIP's end token has the top id
        return x[torch.arange(x.shape[0], device=x.device), eot], x
