"""Dual-encoder retriever (CLIP style): independent image and text
encoders, linear projections, alignment losses on global embeddings and,
optionally, IRRA's implicit relation reasoning (IRR) branch."""
from typing import Dict, List, Optional

import torch
import torch.nn as nn

from tbps.registry import MODELS
from .base import BaseRetriever


@MODELS.register_module()
class DualEncoderRetriever(BaseRetriever):
    """Image encoder + text encoder + projections to ``embed_dim``.

    Args:
        image_encoder (dict): Returns ``(global, tokens)`` from images.
        text_encoder (dict): Returns ``(global, tokens)`` from
            ``input_ids, attention_mask``. ``vocab_size=None`` in the config
            means "the tokenizer's vocabulary size".
        embed_dim (int): Joint embedding size.
        image_proj, text_proj (dict, optional): Projection necks; default a
            :class:`LinearProjection` from the encoder width.
        losses (dict): name -> loss config; each loss is called as
            ``loss(image_feats [B, D], text_feats [B, D], pids [B])`` on the
            projected, unnormalised global embeddings and logged as
            ``loss_<name>`` (``InfoNCELoss``, ``SDMLoss``, ``CMPMLoss``, and
            ``IDLoss``, which owns its identity classifier).
        irr (dict, optional): An :class:`IRRHead` config (IRRA). The caption
            is masked by ``masker`` and encoded a second time; its tokens and
            the image tokens, both projected by ``text_proj`` /
            ``image_proj`` as in IRRA, go through the head, whose masked-token
            loss is logged as ``loss_mlm``. ``width`` and ``vocab_size``
            default to ``embed_dim`` and the tokenizer's vocabulary.
        masker (dict, optional): Masker of the IRR branch, built with the
            tokenizer (its mask id); default ``RandomWordMasker`` (15%,
            80/10/10 as IRRA). Only used with ``irr``.
        loss_weights (dict, optional): Multiplier per loss name (the keys of
            ``losses`` and ``mlm``), 1 by default; 0 skips the computation
            (the IRR branch included). A :class:`LossStageHook` may change it
            between epochs.
        data_preprocessor (dict): A :class:`TBPSDataPreprocessor` config.
    """

    def __init__(self, image_encoder: dict, text_encoder: dict,
                 embed_dim: int = 512, image_proj: Optional[dict] = None,
                 text_proj: Optional[dict] = None,
                 losses: Optional[Dict[str, dict]] = None,
                 irr: Optional[dict] = None,
                 masker: Optional[dict] = None,
                 loss_weights: Optional[Dict[str, float]] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg=None):
        super().__init__(data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.image_encoder = MODELS.build(image_encoder)
        self.text_encoder = self.build_text_encoder(text_encoder)
        self.embed_dim = embed_dim
        self.image_proj = MODELS.build(image_proj or dict(
            type='LinearProjection', in_dim=self.image_encoder.embed_dim,
            out_dim=embed_dim))
        self.text_proj = MODELS.build(text_proj or dict(
            type='LinearProjection', in_dim=self.text_encoder.embed_dim,
            out_dim=embed_dim))
        losses = losses if losses is not None else dict(
            itc=dict(type='InfoNCELoss'))
        if not losses:
            raise ValueError('DualEncoderRetriever needs at least one loss.')
        self.losses = nn.ModuleDict(
            {name: MODELS.build(cfg) for name, cfg in losses.items()})
        self.irr = self.masker = None
        if irr is not None:
            if 'mlm' in self.losses:
                raise ValueError("'mlm' names the IRR loss; rename that "
                                 'entry of losses.')
            self.irr = self._build_irr(irr)
            self.masker = MODELS.build(
                masker or dict(type='RandomWordMasker'),
                default_args=dict(tokenizer=self.tokenizer))
        elif masker is not None:
            raise ValueError('DualEncoderRetriever: a masker is only used by '
                             'the IRR branch; set irr=dict(type=\'IRRHead\') '
                             'too.')
        keys = list(self.losses) + (['mlm'] if self.irr is not None else [])
        self.loss_weights = {k: 1.0 for k in keys}
        unknown = set(loss_weights or {}) - set(keys)
        if unknown:
            raise ValueError(f'Unknown loss_weights keys {sorted(unknown)}; '
                             f'this model has {keys}.')
        self.loss_weights.update(loss_weights or {})

    def _build_irr(self, cfg: dict) -> nn.Module:
        cfg = dict(cfg)
        if cfg.get('width') is None:
            cfg['width'] = self.embed_dim
        if cfg['width'] != self.embed_dim:
            raise ValueError(f'irr.width ({cfg["width"]}) must equal '
                             f'embed_dim ({self.embed_dim}): the IRR head '
                             'reads projected tokens.')
        if cfg.get('vocab_size') is None:
            cfg['vocab_size'] = self.tokenizer.vocab_size
        return MODELS.build(cfg)

    def extract_image_feat(self, images):
        """-> ``global`` [B, D] (projected), ``encoder_global`` [B, C],
        ``tokens`` [B, 1+N, C]."""
        global_feat, tokens = self.image_encoder(images)
        return {'global': self.image_proj(global_feat),
                'encoder_global': global_feat, 'tokens': tokens}

    def extract_text_feat(self, text):
        """-> ``global`` [B, D] (projected), ``encoder_global`` [B, C],
        ``tokens`` [B, L, C]."""
        global_feat, tokens = self.text_encoder(text['input_ids'],
                                                text['attention_mask'])
        return {'global': self.text_proj(global_feat),
                'encoder_global': global_feat, 'tokens': tokens}

    def weight(self, name: str) -> float:
        return float(self.loss_weights.get(name, 0.0))

    def loss(self, inputs: dict, data_samples: List) -> Dict[str, torch.Tensor]:
        self.check_pairs(inputs)
        img = self.extract_image_feat(inputs['images'])
        text = inputs['text']
        text_feats = self.extract_text_feat(text)['global']
        pids = self.pids_of(data_samples, text_feats.device)
        losses = {}
        for name, loss in self.losses.items():
            if self.weight(name):
                losses[f'loss_{name}'] = self.weight(name) * loss(
                    img['global'], text_feats, pids)
        losses.update(self.extra_losses(inputs, img['global'], text_feats,
                                        pids))
        if self.irr is not None and self.weight('mlm'):
            losses['loss_mlm'] = self.weight('mlm') * self._irr_loss(
                text, img['tokens'])
        return losses

    def extra_losses(self, inputs: dict, image_feats: torch.Tensor,
                     text_feats: torch.Tensor,
                     pids: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Losses of a subclass on the batch's projected global features
        [B, D] (weighted by the subclass); none here."""
        return {}

    def _irr_loss(self, text: dict, image_tokens: torch.Tensor):
        """IRR: encode the masked caption (a second text pass), project its
        tokens and the image tokens, predict the masked words."""
        mask = text['attention_mask']
        masked = self.masker(text)
        masked_ids, labels = masked['masked_ids'], masked['labels']
        _, masked_tokens = self.text_encoder(masked_ids, mask)
        return self.irr.loss(self.text_proj(masked_tokens),
                             self.image_proj(image_tokens), labels, mask)
