"""LAIP's image-phrase local alignment on BidirAtt-pooled image patches."""
from typing import Dict, Optional

import torch
import torch.nn as nn

from tbps.registry import MODELS
from .bidir_attention import backward_attention


@MODELS.register_module()
class LocalAlignmentHead(nn.Module):
    """Image-phrase contrastive loss of LAIP (Eqs. 4-9).

    For every caption with a phrase-masked row of the masked-token head's
    pass (one masked word of one noun phrase, fused with the image), the
    cross-attention of that head's ``attention_layer`` (forward attention)
    and its gradient w.r.t. the masked word's score (backward attention,
    :func:`backward_attention`) weight the image patches
    (:class:`BidirAttentionPooling`) into a phrase-guided image feature
    v_p; the unmasked phrase's text [CLS] is t_p; both are projected to
    ``embed_dim`` and compared by a contrastive ``loss`` (InfoNCE, identity
    targets).

    Args:
        masked_token_head (str): Name of the :class:`MaskedTokenHead` whose
            prediction layer and masked pass are used; its
            ``attention_layer`` selects the BidirAtt layer.
        phrase_masker (dict, optional): Mask phrases with this masker in a
            pass of its own (when the masked-token head masks whole
            captions, e.g. the MLM ablation); default: share that head's
            pass, whose masker must return phrase rows (``PhraseMasker``).
        pooling (dict): A :class:`BidirAttentionPooling` config.
        embed_dim (int): Projection size (the retriever's ITC size if
            omitted).
        image_dim, text_dim (int): Encoder widths (filled by the
            retriever).
        tokenizer: Filled by the retriever, given to ``phrase_masker``.
        loss (dict): Contrastive loss, ``loss(image, text, pids)``.
        loss_name (str): Key of the returned loss.
    """

    def __init__(self, embed_dim: int, image_dim: int, text_dim: int,
                 masked_token_head: str = 'mlm',
                 phrase_masker: Optional[dict] = None,
                 pooling: Optional[dict] = None, tokenizer=None,
                 loss: Optional[dict] = None, loss_name: str = 'loss_local'):
        super().__init__()
        self.masked_token_head = masked_token_head
        self.pool = MODELS.build(pooling or dict(type='BidirAttentionPooling'))
        self.image_proj = nn.Linear(image_dim, embed_dim)
        self.text_proj = nn.Linear(text_dim, embed_dim)
        self.loss_module = MODELS.build(loss or dict(type='InfoNCELoss'))
        self.phrase_masker = (MODELS.build(
            phrase_masker, default_args=dict(tokenizer=tokenizer))
            if phrase_masker else None)
        self.loss_name = loss_name

    def _masked_head(self, batch):
        head = batch.heads[self.masked_token_head] \
            if self.masked_token_head in batch.heads else None
        if head is None or not hasattr(head, 'masked_pass'):
            raise KeyError(
                f'LocalAlignmentHead reads the masked-token head '
                f'{self.masked_token_head!r}; the model has heads '
                f'{list(batch.heads)}.')
        if head.attention_layer is None:
            raise ValueError(
                f'Set heads.{self.masked_token_head}.attention_layer: the '
                'fusion layer whose cross-attention BidirAtt pools with.')
        return head

    def loss(self, batch) -> Dict[str, torch.Tensor]:
        head = self._masked_head(batch)
        out = head.masked_pass(batch, self.phrase_masker)
        if 'phrase_texts' not in out:
            raise ValueError(
                f'LocalAlignmentHead needs phrase rows, but the masker of '
                f'heads.{self.masked_token_head} masks whole captions; set '
                "heads.local.phrase_masker=dict(type='PhraseMasker').")
        grad = None
        if self.pool.needs_gradient:
            grad = backward_attention(out['logits'], out['labels'],
                                      out['attention'], retain_graph=True)
        pooled, _ = self.pool(out['image_tokens'][:, 1:], out['attention'],
                              grad)
        phrase_cls, _ = batch.encode_text(out['input_ids'],
                                          out['attention_mask'])
        return {self.loss_name: self.loss_module(
            self.image_proj(pooled), self.text_proj(phrase_cls),
            out['pids'])}
