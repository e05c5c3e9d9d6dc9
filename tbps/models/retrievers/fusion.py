"""Fusion retriever: ALBEF's image/text encoders + cross-modal fusion
encoder, the base of ALBEF, LAIP (BidirAtt + MPM), APTM and AGA."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import ExponentialMovingAverage

from tbps.models.heads.bidir_attention import backward_attention
from tbps.registry import MODELS
from .base import BaseRetriever
from .rerank import RERANK_DEFAULTS, check_rerank_cfg, rerank_similarity

LOSS_KEYS = ('itc', 'itm', 'triplet', 'mlm', 'local')


@MODELS.register_module()
class FusionRetriever(BaseRetriever):
    """ITC (momentum encoders + queues) + ITM with hard negatives
    (+ fusion triplet) + masked word modelling (+ LAIP's BidirAtt local
    alignment).

    Args:
        image_encoder, text_encoder (dict): Unimodal encoders returning
            ``(global, tokens)``; text ``vocab_size=None`` = tokenizer's.
        fusion_encoder (dict): A :class:`BertFusionEncoder` config;
            ``encoder_width=None`` = the image encoder width.
        embed_dim (int): ITC projection size (256).
        momentum (float): EMA coefficient of the momentum encoders (0.995).
        itc (dict): A :class:`MomentumITCLoss` config (``embed_dim`` filled).
        triplet (dict, optional): A :class:`FusionTripletLoss` config.
        masker (dict, optional): ``PhraseMasker`` (MPM, LAIP) or
            ``RandomWordMasker`` (MLM) config; its loss is logged as
            ``loss_mpm`` or ``loss_mlm``.
        local_alignment (dict, optional): BidirAtt, keys ``layer`` (fusion
            layer whose cross-attention is used), ``pooling`` (a
            :class:`BidirAttentionPooling` config), ``embed_dim``,
            ``loss`` (an InfoNCE config), ``phrase_masker`` (used when
            ``masker`` is not a phrase masker).
        loss_weights (dict): Weight per loss key in ``itc, itm, triplet,
            mlm, local``; 0 skips the branch. A training-stage hook may
            change it between epochs.
        rerank (dict): Inference re-ranking (:meth:`rerank`), keys ``k``
            (candidates re-scored per query, 128; 0 = coarse similarity
            only), ``batch_size`` (pairs per fusion pass, 256),
            ``image_chunk`` (gallery images whose cross-attention keys/values
            are held at once, 16), ``score`` (``'itm'``: the ITM positive
            logit, others ``fill`` = -100, as ALBEF; ``'itm+sim'``: APTM's
            min-max(ITM) + ``sim_weight`` (0.002) x min-max(similarity)).
    """

    def __init__(self, image_encoder: dict, text_encoder: dict,
                 fusion_encoder: dict, embed_dim: int = 256,
                 momentum: float = 0.995, itc: Optional[dict] = None,
                 triplet: Optional[dict] = None,
                 masker: Optional[dict] = None,
                 local_alignment: Optional[dict] = None,
                 loss_weights: Optional[Dict[str, float]] = None,
                 rerank: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.image_encoder = MODELS.build(image_encoder)
        self.text_encoder = self.build_text_encoder(text_encoder)
        fusion_encoder = dict(fusion_encoder)
        if fusion_encoder.get('encoder_width', 0) is None:
            fusion_encoder['encoder_width'] = self.image_encoder.embed_dim
        self.fusion_encoder = MODELS.build(fusion_encoder)
        width = self.fusion_encoder.embed_dim
        self.image_proj = MODELS.build(dict(
            type='LinearProjection', in_dim=self.image_encoder.embed_dim,
            out_dim=embed_dim))
        self.text_proj = MODELS.build(dict(
            type='LinearProjection', in_dim=self.text_encoder.embed_dim,
            out_dim=embed_dim))
        self.itm_head = MODELS.build(dict(type='ITMHead', in_dim=width))
        self.itc_loss = MODELS.build(dict(
            dict(type='MomentumITCLoss'), **(itc or {}), embed_dim=embed_dim))
        self.triplet_loss = MODELS.build(triplet) if triplet else None
        self.momentum = ExponentialMovingAverage(
            self._momentum_sources(), momentum=1.0 - momentum)

        tok_args = dict(tokenizer=self.tokenizer)
        self.masker = (MODELS.build(masker, default_args=tok_args)
                       if masker else None)
        self.mlm_loss_name = None
        if self.masker is not None:
            self.mlm_loss_name = ('loss_mpm' if self._is_phrase_masker(
                self.masker) else 'loss_mlm')
        self.local_cfg = dict(local_alignment or {})
        if self.local_cfg:
            cfg = self.local_cfg
            self.local_layer = cfg.get('layer', -2)
            self.local_pool = MODELS.build(cfg.get(
                'pooling', dict(type='BidirAttentionPooling')))
            local_dim = cfg.get('embed_dim', embed_dim)
            self.local_image_proj = nn.Linear(self.image_encoder.embed_dim,
                                              local_dim)
            self.local_text_proj = nn.Linear(self.text_encoder.embed_dim,
                                             local_dim)
            self.local_loss = MODELS.build(cfg.get(
                'loss', dict(type='InfoNCELoss')))
            if self.masker is not None and self._is_phrase_masker(
                    self.masker):
                self.phrase_masker = self.masker
            else:
                self.phrase_masker = MODELS.build(cfg.get(
                    'phrase_masker', dict(type='PhraseMasker')),
                    default_args=tok_args)
        if self.masker is not None or self.local_cfg:
            self.mlm_head = MODELS.build(dict(
                type='MaskedTokenHead', in_dim=width,
                vocab_size=self.tokenizer.vocab_size))
            self.mlm_loss = MODELS.build(dict(type='MaskedTokenLoss'))
        self.loss_weights = {k: 1.0 for k in LOSS_KEYS}
        self.loss_weights.update(loss_weights or {})
        unknown = set(self.loss_weights) - set(LOSS_KEYS)
        if unknown:
            raise ValueError(f'Unknown loss_weights keys {sorted(unknown)}; '
                             f'expected a subset of {LOSS_KEYS}.')
        self.rerank_cfg = dict(RERANK_DEFAULTS, **(rerank or {}))
        check_rerank_cfg(self.rerank_cfg)

    @staticmethod
    def _is_phrase_masker(masker) -> bool:
        return type(masker).__name__ == 'PhraseMasker'

    def _momentum_sources(self) -> nn.ModuleDict:
        """The online modules the momentum model follows, paired by
        structure (the same ModuleDict layout every call)."""
        return nn.ModuleDict(dict(
            image_encoder=self.image_encoder, text_encoder=self.text_encoder,
            image_proj=self.image_proj, text_proj=self.text_proj))

    # -- features -------------------------------------------------------
    def extract_image_feat(self, images):
        """-> ``global`` [B, D] (projected), ``tokens`` [B, 1+N, C]."""
        cls, tokens = self.image_encoder(images)
        return {'global': self.image_proj(cls), 'tokens': tokens}

    def extract_text_feat(self, text):
        """-> ``global`` [B, D] (projected), ``tokens`` [B, L, C],
        ``mask`` [B, L]."""
        cls, tokens = self.text_encoder(text['input_ids'],
                                        text['attention_mask'])
        return {'global': self.text_proj(cls), 'tokens': tokens,
                'mask': text['attention_mask']}

    def fused_cls(self, text_tokens, text_mask, image_tokens=None, **kw):
        """Fusion [CLS] token [B, C] of caption/image pairs."""
        return self.fusion_encoder(text_tokens, text_mask, image_tokens,
                                   **kw)[0][:, 0]

    # -- inference: top-k re-ranking ------------------------------------
    def predict(self, inputs: dict, data_samples: List) -> List:
        """Base fields (``image_feat`` / ``text_feat``) plus, when
        re-ranking is on (``rerank.k > 0``), what :meth:`rerank` needs:
        gallery samples get ``image_tokens`` [N, C], query samples
        ``text_input_ids`` and ``text_attention_mask`` [L] (trimmed to the
        caption's length)."""
        if not self.rerank_cfg['k']:
            return super().predict(inputs, data_samples)
        if inputs.get('images') is not None:
            img = self.extract_image_feat(inputs['images'])
            feats = F.normalize(img['global'], dim=-1)
            for row, i in enumerate(inputs['image_index'].tolist()):
                data_samples[i].set_field(feats[row], 'image_feat')
                data_samples[i].set_field(img['tokens'][row], 'image_tokens')
        text = inputs.get('text')
        if text is not None:
            feats = F.normalize(self.extract_text_feat(text)['global'], dim=-1)
            mask = text['attention_mask']
            # last real token + 1 (right padding)
            keep = (mask.cumsum(1) * mask).argmax(1) + 1
            for row, i in enumerate(inputs['text_index'].tolist()):
                n = int(keep[row])
                data_samples[i].set_field(feats[row], 'text_feat')
                data_samples[i].set_field(text['input_ids'][row, :n],
                                          'text_input_ids')
                data_samples[i].set_field(mask[row, :n], 'text_attention_mask')
        return data_samples

    @torch.no_grad()
    def rerank(self, similarity: torch.Tensor, text_inputs,
               image_tokens, k: Optional[int] = None) -> torch.Tensor:
        """Re-score every query's top-k gallery images by ITM.

        Each query's ``min(k, G)`` most similar images are fused with the
        caption and scored by the ITM head, batched by gallery image with
        the image keys/values computed once per image (see
        :mod:`tbps.models.retrievers.rerank`); the final score follows
        ``rerank.score``. Runs in eval mode (no dropout) and without
        gradients.

        Args:
            similarity: [Q, G] coarse scores, e.g. ``encode_text(q) @
                encode_image(g).T``.
            text_inputs: The Q queries: a list of captions (tokenised here)
                or ``dict(input_ids=[Q, L], attention_mask=[Q, L])``.
            image_tokens: [G, N, C] image encoder tokens of the gallery
                (``extract_image_feat(images)['tokens']``) or a sequence of
                G [N, C] tensors; any device, moved one chunk at a time.
            k (int, optional): Candidates per query; default ``rerank.k``.

        Returns:
            Tensor: [Q, G] float32 scores on ``similarity``'s device.
        """
        cfg = self.rerank_cfg
        k = cfg['k'] if k is None else int(k)
        if isinstance(text_inputs, str):
            text_inputs = [text_inputs]
        if isinstance(text_inputs, (list, tuple)):
            text_inputs = self.data_preprocessor.tokenize(list(text_inputs))
        device = self.data_preprocessor.device
        ids = text_inputs['input_ids'].to(device)
        mask = text_inputs['attention_mask'].to(device)
        was_training = self.training
        self.eval()
        try:
            tokens = torch.cat([
                self.text_encoder(ids[a:a + cfg['batch_size']],
                                  mask[a:a + cfg['batch_size']])[1]
                for a in range(0, ids.shape[0], cfg['batch_size'])])
            scores = rerank_similarity(
                similarity.to(device), tokens, mask, image_tokens,
                self.fusion_encoder, self.itm_head, k=k,
                batch_size=cfg['batch_size'],
                image_chunk=cfg['image_chunk'], score=cfg['score'],
                fill=cfg['fill'], sim_weight=cfg['sim_weight'])
        finally:
            self.train(was_training)
        return scores.to(similarity.device)

    # -- training -------------------------------------------------------
    def weight(self, key: str) -> float:
        return float(self.loss_weights.get(key, 0.0))

    def loss(self, inputs: dict, data_samples: List) -> Dict[str, torch.Tensor]:
        self.check_pairs(inputs)
        images, text = inputs['images'], inputs['text']
        pids = self.pids_of(data_samples, images.device)
        img = self.extract_image_feat(images)
        txt = self.extract_text_feat(text)
        img_feat = F.normalize(img['global'], dim=-1)
        txt_feat = F.normalize(txt['global'], dim=-1)
        losses = {}
        if self.weight('itc'):
            losses['loss_itc'] = self.weight('itc') * self._itc(
                images, text, img_feat, txt_feat, pids)
        if self.weight('itm') or (self.triplet_loss and self.weight('triplet')):
            losses.update(self._itm(img, txt, img_feat, txt_feat, pids))
        if self.masker is not None and self.weight('mlm') and \
                self.mlm_loss_name == 'loss_mlm':
            losses['loss_mlm'] = self.weight('mlm') * self._mlm(
                text, img['tokens'])
        if (self.mlm_loss_name == 'loss_mpm' and self.weight('mlm')) or (
                self.local_cfg and self.weight('local')):
            losses.update(self._phrase_branch(data_samples, img['tokens'],
                                              pids))
        return losses

    def _itc(self, images, text, img_feat, txt_feat, pids):
        with torch.no_grad():
            self.momentum.update_parameters(self._momentum_sources())
            m = self.momentum.module
            img_m = F.normalize(m.image_proj(m.image_encoder(images)[0]), dim=-1)
            txt_m = F.normalize(m.text_proj(m.text_encoder(
                text['input_ids'], text['attention_mask'])[0]), dim=-1)
        loss = self.itc_loss(img_feat, txt_feat, img_m, txt_m, pids)
        self.itc_loss.enqueue(img_m, txt_m, pids)
        return loss

    @torch.no_grad()
    def _hard_negatives(self, img_feat, txt_feat, pids):
        """Per row, one negative index drawn from softmax(similarity) with
        same-pid entries excluded. Returns (neg_image_for_text,
        neg_text_for_image, valid_text, valid_image)."""
        sim = img_feat @ txt_feat.t() / self.itc_loss.temperature
        other = pids[:, None] != pids[None, :]
        w_i2t = sim.softmax(dim=1) * other
        w_t2i = sim.t().softmax(dim=1) * other
        valid_img = w_i2t.sum(1) > 0
        valid_txt = w_t2i.sum(1) > 0
        # Rows without any other identity get a dummy draw, masked later.
        w_i2t[~valid_img] = 1.0
        w_t2i[~valid_txt] = 1.0
        neg_txt = torch.multinomial(w_i2t, 1).squeeze(1)
        neg_img = torch.multinomial(w_t2i, 1).squeeze(1)
        return neg_img, neg_txt, valid_txt, valid_img

    def _itm(self, img, txt, img_feat, txt_feat, pids):
        neg_img, neg_txt, valid_txt, valid_img = self._hard_negatives(
            img_feat, txt_feat, pids)
        ttok, tmask, itok = txt['tokens'], txt['mask'], img['tokens']
        pos = self.fused_cls(ttok, tmask, itok)
        text_with_neg_image = self.fused_cls(ttok, tmask, itok[neg_img])
        image_with_neg_text = self.fused_cls(ttok[neg_txt], tmask[neg_txt],
                                             itok)
        losses = {}
        pos_logits = self.itm_head(pos)
        neg_t_logits = self.itm_head(text_with_neg_image)
        neg_i_logits = self.itm_head(image_with_neg_text)
        if self.weight('itm'):
            logits = torch.cat([pos_logits, neg_t_logits[valid_txt],
                                neg_i_logits[valid_img]])
            labels = torch.cat([
                torch.ones(len(pos_logits), dtype=torch.long),
                torch.zeros(int(valid_txt.sum()) + int(valid_img.sum()),
                            dtype=torch.long)]).to(logits.device)
            losses['loss_itm'] = self.weight('itm') * F.cross_entropy(
                logits, labels)
        if self.triplet_loss is not None and self.weight('triplet'):
            both = valid_txt & valid_img
            score = lambda x: x.softmax(dim=-1)[:, 1]  # noqa: E731
            if both.any():
                loss = self.triplet_loss(score(pos_logits)[both],
                                         score(neg_i_logits)[both],
                                         score(neg_t_logits)[both])
            else:
                loss = pos_logits.sum() * 0.0
            losses['loss_triplet'] = self.weight('triplet') * loss
        return losses

    def _mlm(self, text, image_tokens):
        masked_ids, labels = self.masker(text['input_ids'],
                                         text['attention_mask'])
        _, tokens = self.text_encoder(masked_ids, text['attention_mask'])
        fused, _ = self.fusion_encoder(tokens, text['attention_mask'],
                                       image_tokens)
        return self.mlm_loss(self.mlm_head(fused), labels)

    def _phrase_branch(self, data_samples, image_tokens, pids):
        """MPM on one masked phrase per caption and BidirAtt local
        alignment from the same fusion pass."""
        phrases = [list(s.get('phrases') or []) for s in data_samples]
        if not any(phrases):
            raise ValueError(
                'MPM / BidirAtt need noun phrases per caption: set '
                "phrase_cfg on the training dataset (see the README).")
        device = image_tokens.device
        batch = self.phrase_masker(phrases)
        valid = batch['valid'].to(device)
        ids = batch['masked_ids'].to(device)[valid]
        mask = batch['attention_mask'].to(device)[valid]
        labels = batch['labels'].to(device)[valid]
        itok = image_tokens[valid]
        layer = self.local_layer if self.local_cfg else None
        _, tokens = self.text_encoder(ids, mask)
        fused, attn = self.fusion_encoder(tokens, mask, itok,
                                          attention_layer=layer)
        logits = self.mlm_head(fused)
        losses = {}
        if self.mlm_loss_name == 'loss_mpm' and self.weight('mlm'):
            losses['loss_mpm'] = self.weight('mlm') * self.mlm_loss(
                logits, labels)
        if self.local_cfg and self.weight('local'):
            losses['loss_local'] = self.weight('local') * self._local(
                batch, valid, logits, labels, attn, itok, pids[valid])
        return losses

    def _local(self, batch, valid, logits, labels, attn, image_tokens, pids):
        """Image-phrase contrastive loss on BidirAtt-pooled patches."""
        grad = None
        if self.local_pool.needs_gradient:
            grad = backward_attention(logits, labels, attn,
                                      retain_graph=True)
        pooled, _ = self.local_pool(image_tokens[:, 1:], attn, grad)
        device = image_tokens.device
        plain = batch['input_ids'].to(device)[valid]
        pmask = batch['attention_mask'].to(device)[valid]
        phrase_cls, _ = self.text_encoder(plain, pmask)
        return self.local_loss(self.local_image_proj(pooled),
                               self.local_text_proj(phrase_cls), pids)
