"""Image-text matching (ITM) head with hard negatives, and LAIP's fusion
triplet head on its scores."""
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from tbps.registry import MODELS


@torch.no_grad()
def hard_negatives(image_embed: torch.Tensor, text_embed: torch.Tensor,
                   pids: torch.Tensor, temperature) -> Dict[str, torch.Tensor]:
    """One hard negative per row (ALBEF): drawn from softmax(sim / tau) over
    the batch with same-identity entries excluded.

    image_embed, text_embed [B, D] unit norm, pids [B] -> ``image_for_text``
    and ``text_for_image`` indices [B], ``text_valid`` / ``image_valid``
    [B] (False where the batch has no other identity; the index is then a
    dummy draw).
    """
    sim = image_embed @ text_embed.t() / temperature
    other = pids[:, None] != pids[None, :]
    w_i2t = sim.softmax(dim=1) * other
    w_t2i = sim.t().softmax(dim=1) * other
    image_valid = w_i2t.sum(1) > 0
    text_valid = w_t2i.sum(1) > 0
    w_i2t[~image_valid] = 1.0
    w_t2i[~text_valid] = 1.0
    text_for_image = torch.multinomial(w_i2t, 1).squeeze(1)
    image_for_text = torch.multinomial(w_t2i, 1).squeeze(1)
    return dict(image_for_text=image_for_text, text_for_image=text_for_image,
                text_valid=text_valid, image_valid=image_valid)


@MODELS.register_module()
class ITMHead(nn.Module):
    """Binary match classifier on the fused [CLS] token, trained with one
    hard negative image per caption and one hard negative caption per image
    (ALBEF):

        L_itm = CE([f(I, T); f(I', T); f(I, T')], [1; 0; 0])

    ``forward``: fused [CLS] [B, C] -> logits [B, 2] (index 1 = match), as
    re-ranking uses it. :meth:`pair_logits` is the batch's positive and
    negative logits, computed once per batch and shared (LAIP's
    :class:`FusionTripletHead` reads them).

    Args:
        fusion_dim (int): Fused token width (filled by the retriever).
        hidden_dim (int, optional): An MLP ``fusion_dim -> hidden_dim
            (LayerNorm, GELU) -> 2`` instead of one linear layer (APTM).
        itc_head (str): Name of the head whose ``temperature`` weights the
            hard-negative draw; absent or ``None``: ``temperature``.
        temperature (float): Used when there is no such head.
        loss_name (str): Key of the returned loss.
    """

    def __init__(self, fusion_dim: int, hidden_dim: Optional[int] = None,
                 itc_head: Optional[str] = 'itc', temperature: float = 0.07,
                 loss_name: str = 'loss_itm'):
        super().__init__()
        if hidden_dim:
            self.fc = nn.Sequential(
                nn.Linear(fusion_dim, hidden_dim), nn.LayerNorm(hidden_dim),
                nn.GELU(), nn.Linear(hidden_dim, 2))
        else:
            self.fc = nn.Linear(fusion_dim, 2)
        self.itc_head = itc_head
        self.default_temperature = temperature
        self.loss_name = loss_name

    def forward(self, fused_cls: torch.Tensor) -> torch.Tensor:
        return self.fc(fused_cls)

    def match_score(self, fused_cls: torch.Tensor) -> torch.Tensor:
        """Probability that each pair matches, [B]."""
        return self.forward(fused_cls).softmax(dim=-1)[:, 1]

    def temperature(self, batch):
        heads = batch.heads
        if self.itc_head and self.itc_head in heads:
            return heads[self.itc_head].temperature
        return self.default_temperature

    def pair_logits(self, batch) -> Dict[str, torch.Tensor]:
        """``pos`` [B, 2] for (I, T), ``neg_image`` [B, 2] for (I', T),
        ``neg_text`` [B, 2] for (I, T') and the validity masks of
        :func:`hard_negatives`; once per batch."""
        return batch.cached(('itm_pairs', id(self)),
                            lambda: self._pair_logits(batch))

    def _pair_logits(self, batch):
        neg = hard_negatives(batch.image_embed, batch.text_embed, batch.pids,
                             self.temperature(batch))
        ttok, tmask = batch.text_feat['tokens'], batch.text_feat['mask']
        itok = batch.image_feat['tokens']
        txt_neg, img_neg = neg['text_for_image'], neg['image_for_text']
        # the three sets of pairs in one fusion pass (larger matrix products)
        fused = batch.fuse(torch.cat([ttok, ttok, ttok[txt_neg]]),
                           torch.cat([tmask, tmask, tmask[txt_neg]]),
                           torch.cat([itok, itok[img_neg], itok]))[0][:, 0]
        pos, neg_image, neg_text = self(fused).chunk(3)
        return dict(pos=pos, neg_image=neg_image, neg_text=neg_text,
                    text_valid=neg['text_valid'],
                    image_valid=neg['image_valid'])

    def loss(self, batch) -> Dict[str, torch.Tensor]:
        out = self.pair_logits(batch)
        pos = out['pos']
        logits = torch.cat([pos, out['neg_image'][out['text_valid']],
                            out['neg_text'][out['image_valid']]])
        labels = torch.zeros(len(logits), dtype=torch.long,
                             device=logits.device)
        labels[:len(pos)] = 1
        return {self.loss_name: F.cross_entropy(logits, labels)}


@MODELS.register_module()
class FusionTripletHead(nn.Module):
    """LAIP's fusion triplet loss (:class:`~tbps.models.losses.
    FusionTripletLoss`, margin 0.6) on the match probabilities of the
    ITM head's positive and hard-negative pairs of the batch (computed once
    and shared with that head).

    Args:
        itm_head (str): Name of the :class:`ITMHead` in ``heads``.
        margin (float): Triplet margin.
        loss_name (str): Key of the returned loss.
    """

    def __init__(self, itm_head: str = 'itm', margin: float = 0.6,
                 loss_name: str = 'loss_triplet'):
        super().__init__()
        self.itm_head = itm_head
        self.loss_module = MODELS.build(dict(type='FusionTripletLoss',
                                             margin=margin))
        self.loss_name = loss_name

    def loss(self, batch) -> Dict[str, torch.Tensor]:
        if self.itm_head not in batch.heads:
            raise KeyError(f'FusionTripletHead reads the ITM head '
                           f'{self.itm_head!r}, which is not in the model\'s '
                           f'heads {list(batch.heads)}.')
        out = batch.heads[self.itm_head].pair_logits(batch)
        both = out['text_valid'] & out['image_valid']
        pos = out['pos']
        if not both.any():  # one identity in the batch: no negatives
            return {self.loss_name: pos.sum() * 0.0}

        def score(logits):
            return logits.softmax(dim=-1)[:, 1][both]

        return {self.loss_name: self.loss_module(
            score(pos), score(out['neg_text']), score(out['neg_image']))}
