"""Cross-modal fusion encoder: BERT layers whose text tokens also attend to
image tokens (ALBEF's layers 6-11)."""
import math
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tbps.registry import MODELS
from tbps.models.encoders.bert_text import build_bert_config

KeyValue = Tuple[torch.Tensor, torch.Tensor]


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[B, N] 1/0 keep mask -> [B, 1, 1, N] additive mask (0 / -inf-ish)."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


@MODELS.register_module()
class BertFusionEncoder(BaseModule):
    """``num_layers`` BERT layers with cross-attention, built from
    ``transformers.BertLayer`` (parameter names ``layer.{i}.attention``,
    ``layer.{i}.crossattention``, ``layer.{i}.intermediate``,
    ``layer.{i}.output``) and run by this module so that

    * the cross-attention probabilities of one layer are returned and stay
      in the autograd graph (BidirAtt takes gradients w.r.t. them), and
    * image keys/values can be computed once per image
      (:meth:`image_key_values`) and reused for every caption paired with it
      (batched re-ranking).

    Args:
        name_or_path (str, optional): BERT name/folder for the config.
        config (dict, optional): BERT config overrides.
        num_layers (int): Fusion layers (6 in ALBEF).
        encoder_width (int): Width of the image tokens (keys/values input).
    """

    def __init__(self, name_or_path: Optional[str] = None,
                 config: Optional[dict] = None, num_layers: int = 6,
                 encoder_width: int = 768, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        from transformers.models.bert.modeling_bert import BertLayer
        # transformers only builds cross-attention for decoders; build as a
        # decoder, then make every self-attention bidirectional again.
        bert_cfg = build_bert_config(name_or_path, dict(
            config or {}, is_decoder=True, add_cross_attention=True))
        # Self-attention runs through transformers' attention interface.
        bert_cfg._attn_implementation = 'sdpa'
        self.layer = nn.ModuleList(
            [BertLayer(bert_cfg, layer_idx=i) for i in range(num_layers)])
        bert_cfg.is_decoder = False
        hidden = bert_cfg.hidden_size
        for layer in self.layer:
            layer.is_decoder = False
            layer.attention.self.is_causal = False
            layer.attention.self.is_decoder = False
            cross = layer.crossattention.self
            if encoder_width != hidden:
                cross.key = nn.Linear(encoder_width, cross.all_head_size)
                cross.value = nn.Linear(encoder_width, cross.all_head_size)
        self.bert_config = bert_cfg
        self.embed_dim = hidden
        self.encoder_width = encoder_width
        self.num_heads = bert_cfg.num_attention_heads
        self.apply(self._init_bert_weights)

    def _init_bert_weights(self, module):
        std = self.bert_config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def _split_heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, -1).transpose(1, 2)

    def image_key_values(self, image_tokens: torch.Tensor) -> List[KeyValue]:
        """Per-layer cross-attention keys and values of image tokens:
        [B, N, Cv] -> list of ``(K, V)``, each [B, heads, N, C/heads]."""
        return [(self._split_heads(l.crossattention.self.key(image_tokens)),
                 self._split_heads(l.crossattention.self.value(image_tokens)))
                for l in self.layer]

    def forward(self, text_tokens: torch.Tensor, text_mask: torch.Tensor,
                image_tokens: Optional[torch.Tensor] = None,
                image_mask: Optional[torch.Tensor] = None,
                image_kv: Optional[List[KeyValue]] = None,
                kv_index: Optional[torch.Tensor] = None,
                attention_layer: Optional[int] = None):
        """Fuse text with image tokens.

        Args:
            text_tokens: [B, L, C] text encoder output.
            text_mask: [B, L] 1 for real tokens.
            image_tokens: [B, N, Cv], or give ``image_kv`` instead.
            image_mask: [B or G, N] 1 for real image tokens (default all).
            image_kv: Output of :meth:`image_key_values` for G images.
            kv_index: [B] which of the G images each caption attends to
                (default: row i uses image i).
            attention_layer: Return this layer's cross-attention
                probabilities [B, heads, L, N] (softmax over image tokens,
                before the attention dropout, as ALBEF's saved maps).

        Returns:
            tuple: fused tokens [B, L, C] and the attention map or None.
        """
        if image_kv is None:
            if image_tokens is None:
                raise ValueError('Give image_tokens or image_kv.')
            image_kv = self.image_key_values(image_tokens)
        if attention_layer is not None and not (
                -len(self.layer) <= attention_layer < len(self.layer)):
            raise ValueError(f'attention_layer {attention_layer} out of range'
                             f' for {len(self.layer)} fusion layers.')
        if attention_layer is not None:
            attention_layer %= len(self.layer)
        dtype = text_tokens.dtype
        self_mask = additive_mask(text_mask, dtype)
        cross_mask = None
        if image_mask is not None:
            if kv_index is not None:
                image_mask = image_mask[kv_index]
            cross_mask = additive_mask(image_mask, dtype)
        hidden, kept = text_tokens, None
        for i, layer in enumerate(self.layer):
            hidden = layer.attention(hidden, self_mask)[0]
            keys, values = image_kv[i]
            if kv_index is not None:
                keys, values = keys[kv_index], values[kv_index]
            hidden, probs = self._cross_attend(layer.crossattention, hidden,
                                               keys, values, cross_mask)
            if i == attention_layer:
                kept = probs
            hidden = layer.feed_forward_chunk(hidden)
        return hidden, kept

    # -- many captions against few images (re-ranking) -----------------
    def text_prefix(self, text_tokens: torch.Tensor,
                    text_mask: torch.Tensor) -> KeyValue:
        """The image-independent start of :meth:`forward`: layer 0's
        self-attention output [B, L, C] and its cross-attention query
        projection [B, L, C]. A caption scored against many images needs
        them once; see :meth:`fused_cls_from_prefix`."""
        layer = self.layer[0]
        mask = additive_mask(text_mask, text_tokens.dtype)
        hidden = layer.attention(text_tokens, mask)[0]
        return hidden, layer.crossattention.self.query(hidden)

    def fused_cls_from_prefix(self, prefix: KeyValue, text_mask: torch.Tensor,
                              image_kv: List[KeyValue],
                              kv_index: torch.Tensor) -> torch.Tensor:
        """Fused [CLS] token [B, C] of B caption/image pairs, equal to
        ``forward(text_tokens, text_mask, image_kv=image_kv,
        kv_index=kv_index)[0][:, 0]`` (all image tokens real), for pairs
        that share images.

        Skips work the [CLS] output does not need: layer 0's
        self-attention (``prefix``, the :meth:`text_prefix` rows of the B
        captions) and, in the last layer, every row but [CLS]. The captions
        paired with one image attend to its keys/values together, as one
        attention over their stacked token rows (softmax is per row), so
        keys/values are never copied per pair. No attention maps, no
        dropout: for inference.

        Args:
            prefix: ``(hidden, query)`` [B, L, C] each.
            text_mask: [B, L] 1 for real tokens.
            image_kv: :meth:`image_key_values` of G images.
            kv_index: [B] the image (0..G-1) of each pair.
        """
        hidden, query = prefix
        order = torch.argsort(kv_index, stable=True)
        images, counts = torch.unique_consecutive(kv_index[order],
                                                  return_counts=True)
        groups = list(zip(images.tolist(), counts.tolist()))
        hidden, query = hidden[order], query[order]
        self_mask = additive_mask(text_mask[order], hidden.dtype)
        last = len(self.layer) - 1
        for i, layer in enumerate(self.layer):
            if i == last:  # from here on only the [CLS] row matters
                if i == 0:
                    hidden, query = hidden[:, :1], query[:, :1]
                else:
                    hidden = self._cls_self_attend(layer.attention, hidden,
                                                   self_mask)
            elif i > 0:
                hidden = layer.attention(hidden, self_mask)[0]
            block = layer.crossattention
            if i > 0:
                query = block.self.query(hidden)
            context = self._grouped_attend(query, image_kv[i], groups,
                                           block.self.scaling)
            hidden = layer.feed_forward_chunk(block.output(context, hidden))
        fused = torch.empty_like(hidden[:, 0])
        fused[order] = hidden[:, 0]
        return fused

    def _grouped_attend(self, query, image_kv, groups, scale):
        """Cross-attention context [B, L, C] of query projections [B, L, C]
        whose rows come in runs of ``(image, count)`` groups."""
        keys, values = image_kv
        length, width = query.shape[1:]
        out, start = [], 0
        for image, count in groups:
            rows = query[start:start + count].reshape(
                count * length, self.num_heads, -1).transpose(0, 1)[None]
            context = torch.nn.functional.scaled_dot_product_attention(
                rows, keys[image:image + 1], values[image:image + 1],
                scale=scale)
            out.append(context[0].transpose(0, 1).reshape(count, length,
                                                          width))
            start += count
        return torch.cat(out)

    def _cls_self_attend(self, block, hidden, mask):
        """Self-attention output of the [CLS] row only: [B, L, C] ->
        [B, 1, C]."""
        attn = block.self
        query = self._split_heads(attn.query(hidden[:, :1]))
        keys = self._split_heads(attn.key(hidden))
        values = self._split_heads(attn.value(hidden))
        context = torch.nn.functional.scaled_dot_product_attention(
            query, keys, values, attn_mask=mask, scale=attn.scaling)
        return block.output(context.transpose(1, 2).flatten(2), hidden[:, :1])

    def _cross_attend(self, block, hidden, keys, values, mask):
        """softmax(Q K^T / sqrt(d) + mask) V, then BERT's output block."""
        attn = block.self
        query = self._split_heads(attn.query(hidden))
        scores = query @ keys.transpose(-1, -2) / math.sqrt(query.shape[-1])
        if mask is not None:
            scores = scores + mask
        probs = scores.softmax(dim=-1)
        context = (attn.dropout(probs) @ values).transpose(1, 2).flatten(2)
        # the probabilities before dropout, as ALBEF keeps its attention
        # maps (save_attention_map) for Grad-CAM
        return block.output(context, hidden), probs
