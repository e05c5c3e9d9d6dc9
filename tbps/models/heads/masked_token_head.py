"""Masked-token modelling on the fusion encoder: MLM (ALBEF), Mask Phrase
Modeling (LAIP) and attention-guided masking (AGA): one head, the masker
decides which words are hidden."""
from typing import Dict, Optional

import torch
import torch.nn as nn

from tbps.registry import MODELS


def build_lm_prediction_head(width: int, vocab_size: int,
                             layer_norm_eps: float = 1e-12,
                             hidden_act: str = 'gelu') -> nn.Module:
    """transformers' ``BertLMPredictionHead`` (dense -> act -> LayerNorm ->
    vocabulary) with the decoder bias tied to ``bias`` as in BERT, so its
    names (``transform.dense``, ``transform.LayerNorm``, ``decoder``,
    ``bias``) load BERT / ALBEF ``cls.predictions`` weights as they are."""
    from transformers import BertConfig
    from transformers.models.bert.modeling_bert import BertLMPredictionHead
    head = BertLMPredictionHead(BertConfig(
        hidden_size=width, vocab_size=vocab_size, hidden_act=hidden_act,
        layer_norm_eps=layer_norm_eps))
    head.decoder.bias = head.bias
    return head


@MODELS.register_module()
class MaskedTokenHead(nn.Module):
    """Predict masked words from the fusion encoder (ALBEF's MLM, LAIP's
    MPM):

        L = -1/|M| sum_{j in M} log p(y_j | masked text, image)

    The masker (``RandomWordMasker``, ``PhraseMasker``...) is called with
    the shared masker signature ``masker(text, data_samples)``; its rows
    (captions, or the phrases of LAIP's MPM) are encoded by the text
    encoder, fused with their images and decoded by a BERT LM prediction
    head. :meth:`masked_pass` is computed once per batch and shared with
    heads that read it (LAIP's :class:`LocalAlignmentHead` takes its logits
    and the cross-attention of ``attention_layer``).

    Args:
        fusion_dim (int): Fused token width (filled by the retriever).
        vocab_size (int): Tokenizer vocabulary (filled by the retriever).
        tokenizer: The retriever's tokenizer (filled), given to the masker.
        masker (dict): Masker config (default ``RandomWordMasker``).
        attention_layer (int, optional): Fusion layer whose cross-attention
            probabilities the pass keeps (for BidirAtt).
        loss_name (str): Key of the returned loss (``'loss_mlm'``; LAIP
            logs MPM as ``'loss_mpm'``).
    """

    def __init__(self, fusion_dim: int, vocab_size: int, tokenizer=None,
                 masker: Optional[dict] = None,
                 attention_layer: Optional[int] = None,
                 loss_name: str = 'loss_mlm', layer_norm_eps: float = 1e-12):
        super().__init__()
        self.masker = MODELS.build(masker or dict(type='RandomWordMasker'),
                                   default_args=dict(tokenizer=tokenizer))
        self.predictor = build_lm_prediction_head(fusion_dim, vocab_size,
                                                  layer_norm_eps)
        self.loss_module = MODELS.build(dict(type='MaskedTokenLoss'))
        self.attention_layer = attention_layer
        self.loss_name = loss_name

    @property
    def needs_text_attention(self) -> bool:
        """The masker reads the text encoder's [CLS] attention."""
        return bool(getattr(self.masker, 'needs_cls_attention', False))

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        """Fused tokens [..., C] -> vocabulary logits [..., V]."""
        return self.predictor(fused)

    def masked_pass(self, batch, masker=None) -> Dict[str, object]:
        """Mask (``masker`` or this head's), encode, fuse and predict; once
        per batch and masker.

        Returns:
            dict: the masker's output restricted to its ``valid`` rows
            (``input_ids``, ``attention_mask``, ``masked_ids``, ``labels``
            [B', L'] and extras such as ``phrase_texts``), plus ``valid``
            [R] (which of the masker's rows were kept), ``rows`` [B'] (the
            batch sample of each kept row), ``image_tokens`` [B', N, C],
            ``pids`` [B'], ``logits`` [B', L', V] and ``attention``
            [B', heads, L', N] (``attention_layer``) or None.
        """
        masker = masker if masker is not None else self.masker
        return batch.cached(('masked_pass', id(self), id(masker)),
                            lambda: self._masked_pass(batch, masker))

    def _masked_pass(self, batch, masker):
        text = batch.text
        if 'cls_attention' in batch.text_feat:
            text = dict(text, cls_attention=batch.text_feat['cls_attention'])
        out = dict(masker(text, batch.data_samples))
        device = batch.images.device
        valid = out['valid'].to(device)
        keep = valid.cpu().tolist()
        for key, value in list(out.items()):
            if key == 'valid':
                continue
            if torch.is_tensor(value) and value.shape[:1] == valid.shape:
                out[key] = value.to(device)[valid]
            elif isinstance(value, list) and len(value) == len(keep):
                out[key] = [v for v, k in zip(value, keep) if k]
        out['valid'] = valid
        # a masker may return several rows per sample (``rows``: the sample
        # of each row, e.g. one per noun phrase); else row i is sample i
        rows = out.get('rows')
        if rows is None:
            rows = torch.arange(len(valid), device=device)[valid]
        out['rows'] = rows
        out['image_tokens'] = batch.image_feat['tokens'][rows]
        out['pids'] = batch.pids[rows]
        _, tokens = batch.encode_text(out['masked_ids'],
                                      out['attention_mask'])
        fused, out['attention'] = batch.fuse(
            tokens, out['attention_mask'], out['image_tokens'],
            attention_layer=self.attention_layer)
        out['logits'] = self(fused)
        return out

    def loss(self, batch) -> Dict[str, torch.Tensor]:
        out = self.masked_pass(batch)
        return {self.loss_name: self.loss_module(out['logits'],
                                                 out['labels'])}
