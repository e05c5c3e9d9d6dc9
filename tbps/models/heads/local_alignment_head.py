"""LAIP's image-phrase local alignment on BidirAtt-pooled image patches."""
import zlib
from typing import Dict, Optional

import torch
import torch.nn as nn

from tbps.registry import MODELS
from .bidir_attention import backward_attention


@MODELS.register_module()
class LocalAlignmentHead(nn.Module):
    """Image-phrase contrastive loss of LAIP (Eqs. 4-9).

    For every phrase row of the masked-token head's pass (one masked word
    of a noun phrase, fused with the image of its caption), the
    cross-attention of that head's ``attention_layer`` (forward attention)
    and its gradient w.r.t. the masked word's score (backward attention,
    :func:`backward_attention`) weight the image patches
    (:class:`BidirAttentionPooling`) into a phrase-guided image feature
    v_p; the unmasked phrase's text [CLS] is t_p; both are projected to
    ``embed_dim`` and compared by a contrastive ``loss`` (InfoNCE; a
    feature's positives are the rows of the same image and phrase text).

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
        targets (str): Which pairs are positives: ``'phrase'`` (LAIP: a
            phrase-guided image feature matches its own phrase, i.e. the
            same image and the same phrase text, across the gathered
            batch) or ``'identity'`` (every phrase of the same person).
        loss_name (str): Key of the returned loss.
    """

    def __init__(self, embed_dim: int, image_dim: int, text_dim: int,
                 masked_token_head: str = 'mlm',
                 phrase_masker: Optional[dict] = None,
                 pooling: Optional[dict] = None, tokenizer=None,
                 loss: Optional[dict] = None, targets: str = 'phrase',
                 loss_name: str = 'loss_local'):
        super().__init__()
        if targets not in ('phrase', 'identity'):
            raise ValueError("targets must be 'phrase' or 'identity', got "
                             f'{targets!r}.')
        self.targets = targets
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
        labels = out['pids'] if self.targets == 'identity' else \
            phrase_labels(batch, out['rows'], out['phrase_texts'])
        return {self.loss_name: self.loss_module(
            self.image_proj(pooled), self.text_proj(phrase_cls), labels)}


def phrase_labels(batch, rows: torch.Tensor, phrases) -> torch.Tensor:
    """Equal labels [R] for rows of the same image and the same phrase
    text; a stable hash of (image path, phrase), so labels agree across
    ranks when a loss gathers them."""
    labels = []
    for row, phrase in zip(rows.tolist(), phrases):
        sample = batch.data_samples[row]
        image = sample.get('img_path') or f'#{sample.get("sample_idx", row)}'
        labels.append(zlib.crc32(f'{image}\0{phrase}'.encode()))
    return torch.tensor(labels, dtype=torch.long, device=rows.device)
