"""IRRA's Implicit Relation Reasoning (IRR) branch: masked caption tokens
read the image through cross-attention and predict the masked words."""
from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tbps.registry import MODELS
from tbps.models.encoders.clip_text import (LayerNormFP32, QuickGELU,
                                            Transformer)


@MODELS.register_module()
class IRRHead(BaseModule):
    """Cross-modal interaction encoder + masked-token prediction (IRRA).

    With masked-caption tokens T [B, L, C] and image tokens V [B, 1+N, C],
    both already projected into the joint space (C = the retriever's
    ``embed_dim``, 512 for CLIP ViT-B/16):

        H = MHA(q=ln_pre_t(T), k=v=ln_pre_i(V))     one cross-attention
        H = Transformer(H)                          ``num_layers`` blocks
        H = ln_post(H)
        logits = fc(ln(QuickGELU(dense(H))))        [B, L, vocab_size]

    As in IRRA the cross-attention output has no residual connection to
    T: the masked words must be recovered from what the caption reads in
    the image. The transformer is bidirectional (no causal mask). One
    deviation: IRRA feeds fixed 77-token captions and lets the transformer
    attend to the padding; here padding keys are masked when ``text_mask``
    is given, so the result does not depend on how a batch is padded.

    Initialisation follows IRRA (CLIP's scheme at this width): attention
    in-projections N(0, w^-1/2), out-projections and ``c_proj``
    N(0, w^-1/2 (2 layers)^-1/2), ``c_fc`` and ``mlm_head.dense``
    N(0, (2w)^-1/2), ``mlm_head.fc`` like the out-projections.

    Parameter names: ``cross_attn``, ``ln_pre_t``, ``ln_pre_i``,
    ``cross_modal_transformer.resblocks.{i}``, ``ln_post``,
    ``mlm_head.{dense,ln,fc}``.

    Args:
        vocab_size (int): Output vocabulary (49408 for CLIP).
        width (int): Token width C.
        num_layers (int): Transformer blocks after the cross-attention (4).
        num_heads (int, optional): Attention heads; default ``width // 64``
            (at least 1), as IRRA.
        loss (dict): Masked-token loss, labels -100 at unmasked positions.
    """

    def __init__(self, vocab_size: int, width: int = 512,
                 num_layers: int = 4, num_heads: Optional[int] = None,
                 loss: Optional[dict] = None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        heads = num_heads or max(1, width // 64)
        self.width, self.num_layers, self.vocab_size = width, num_layers, \
            vocab_size
        self.cross_attn = nn.MultiheadAttention(width, heads,
                                                batch_first=True)
        self.ln_pre_t = LayerNormFP32(width)
        self.ln_pre_i = LayerNormFP32(width)
        self.cross_modal_transformer = Transformer(width, num_layers, heads)
        self.ln_post = LayerNormFP32(width)
        self.mlm_head = nn.Sequential(OrderedDict([
            ('dense', nn.Linear(width, width)),
            ('gelu', QuickGELU()),
            ('ln', LayerNormFP32(width)),
            ('fc', nn.Linear(width, vocab_size)),
        ]))
        self.loss_module = MODELS.build(loss or dict(type='MaskedTokenLoss'))
        self._init_parameters()

    def _init_parameters(self):
        attn_std = self.width**-0.5
        proj_std = attn_std * (2 * max(self.num_layers, 1))**-0.5
        fc_std = (2 * self.width)**-0.5
        for block in self.cross_modal_transformer.resblocks:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.cross_attn.in_proj_weight, std=attn_std)
        nn.init.normal_(self.cross_attn.out_proj.weight, std=proj_std)
        nn.init.normal_(self.mlm_head.dense.weight, std=fc_std)
        nn.init.normal_(self.mlm_head.fc.weight, std=proj_std)

    def fuse(self, text_tokens: torch.Tensor, image_tokens: torch.Tensor,
             text_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """text_tokens [B, L, C], image_tokens [B, 1+N, C], text_mask
        [B, L] (1 = real token) -> fused caption tokens [B, L, C]."""
        if text_tokens.shape[-1] != self.width or \
                image_tokens.shape[-1] != self.width:
            raise ValueError(
                f'IRRHead(width={self.width}) got text tokens of width '
                f'{text_tokens.shape[-1]} and image tokens of width '
                f'{image_tokens.shape[-1]}; project both to {self.width}.')
        image = self.ln_pre_i(image_tokens)
        x = self.cross_attn(self.ln_pre_t(text_tokens), image, image,
                            need_weights=False)[0]
        padding = None if text_mask is None else ~text_mask.bool()
        x = self.cross_modal_transformer(x, key_padding_mask=padding)
        return self.ln_post(x)

    def forward(self, text_tokens: torch.Tensor, image_tokens: torch.Tensor,
                text_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """-> vocabulary logits [B, L, vocab_size] at every position."""
        return self.mlm_head(self.fuse(text_tokens, image_tokens, text_mask))

    def loss(self, text_tokens: torch.Tensor, image_tokens: torch.Tensor,
             labels: torch.Tensor,
             text_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Masked-token cross-entropy; ``labels`` [B, L] hold the original
        id at masked positions and -100 elsewhere. The vocabulary layer
        runs on the masked positions only (same loss as on all logits,
        without the [B, L, vocab] tensor)."""
        fused = self.fuse(text_tokens, image_tokens, text_mask)
        masked = labels != self.loss_module.ignore_index
        return self.loss_module(self.mlm_head(fused[masked]), labels[masked])
