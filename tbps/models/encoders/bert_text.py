"""BERT text encoder: the first layers of a ``transformers`` BERT."""
import os
from typing import Optional, Tuple

import torch
from mmengine.model import BaseModule

from tbps.registry import MODELS


def build_bert_config(name_or_path: Optional[str] = None,
                      config: Optional[dict] = None):
    """A ``transformers.BertConfig`` from a model name/folder, updated with
    ``config`` (e.g. ``dict(hidden_size=128, num_attention_heads=4)``)."""
    from transformers import BertConfig
    if name_or_path is not None:
        local_only = os.environ.get('HF_HUB_OFFLINE', '0') == '1'
        bert_cfg = BertConfig.from_pretrained(name_or_path,
                                              local_files_only=local_only)
    else:
        bert_cfg = BertConfig()
    for key, value in (config or {}).items():
        setattr(bert_cfg, key, value)
    return bert_cfg


@MODELS.register_module()
class BertTextEncoder(BaseModule):
    """Layers ``0..num_layers-1`` of BERT (ALBEF's text encoder uses 6).

    Args:
        name_or_path (str, optional): transformers BERT name or folder whose
            config (and, with ``load_pretrained``, weights) are used.
        config (dict, optional): Overrides of the BERT config.
        num_layers (int): Transformer layers kept.
        vocab_size (int, optional): Overrides the config's vocabulary size
            (a retriever fills ``None`` from its tokenizer).
        load_pretrained (bool): Load ``name_or_path``'s weights.

    Forward: input_ids, attention_mask [B, L] -> ``(cls [B, C], tokens
    [B, L, C])``.
    """

    def __init__(self, name_or_path: Optional[str] = None,
                 config: Optional[dict] = None, num_layers: int = 6,
                 vocab_size: Optional[int] = None,
                 load_pretrained: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        from transformers import BertModel
        overrides = dict(config or {}, num_hidden_layers=num_layers)
        if vocab_size is not None:
            overrides['vocab_size'] = vocab_size
        bert_cfg = build_bert_config(name_or_path, overrides)
        if load_pretrained:
            if name_or_path is None:
                raise ValueError('load_pretrained needs name_or_path.')
            self.bert = BertModel.from_pretrained(
                name_or_path, config=bert_cfg, add_pooling_layer=False,
                local_files_only=os.environ.get('HF_HUB_OFFLINE') == '1')
        else:
            self.bert = BertModel(bert_cfg, add_pooling_layer=False)
        self.embed_dim = bert_cfg.hidden_size
        self.bert_config = bert_cfg

    @property
    def word_embeddings(self) -> torch.nn.Embedding:
        return self.bert.embeddings.word_embeddings

    def forward(self, input_ids: torch.Tensor,
                attention_mask: Optional[torch.Tensor] = None):
        tokens = self.bert(input_ids=input_ids,
                           attention_mask=attention_mask).last_hidden_state
        return tokens[:, 0], tokens

    def forward_with_cls_attention(self, input_ids: torch.Tensor,
                                   attention_mask: Optional[torch.Tensor] = None
                                   ) -> Tuple[torch.Tensor, torch.Tensor,
                                              torch.Tensor]:
        """:meth:`forward` plus every layer's [CLS]-to-token attention.

        The inputs of each self-attention layer are captured during the
        forward pass, and the [CLS] row of its attention,
        ``softmax(q_cls K^T / sqrt(d))`` over the unpadded tokens, is
        recomputed from them (one query row: the pass itself keeps its
        fused attention kernel), without gradient, averaged over heads.

        Returns:
            tuple: ``cls`` [B, C], ``tokens`` [B, L, C] and
            ``cls_attention`` [B, num_layers, L] (rows sum to 1).
        """
        inputs = []

        def capture(module, args, kwargs):
            inputs.append(args[0] if args else kwargs['hidden_states'])

        layers = self.bert.encoder.layer
        handles = [layer.attention.self.register_forward_pre_hook(
            capture, with_kwargs=True) for layer in layers]
        try:
            cls, tokens = self(input_ids, attention_mask)
        finally:
            for handle in handles:
                handle.remove()
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        pad = ~attention_mask.bool()
        rows = []
        with torch.no_grad():
            for layer, hidden in zip(layers, inputs):
                attn = layer.attention.self
                heads, size = attn.num_attention_heads, \
                    attn.attention_head_size
                query = attn.query(hidden[:, :1]).view(-1, heads, 1, size)
                key = attn.key(hidden).view(hidden.shape[0], -1, heads,
                                            size).transpose(1, 2)
                scores = (query @ key.transpose(-1, -2)).squeeze(2) \
                    * size**-0.5
                scores = scores.masked_fill(pad[:, None], float('-inf'))
                rows.append(scores.float().softmax(-1).mean(1))
        return cls, tokens, torch.stack(rows, dim=1)
