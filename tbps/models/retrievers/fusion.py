"""Fusion retriever: image/text encoders + cross-modal fusion encoder with
training heads named by the config (ALBEF, LAIP, APTM, AGA)."""
import inspect
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import ExponentialMovingAverage

from tbps.evaluation.functional.rerank import (RERANK_DEFAULTS,
                                               check_rerank_cfg,
                                               rerank_similarity)
from tbps.models.heads.fusion_batch import FusionBatch
from tbps.registry import MODELS
from .base import BaseRetriever

_MOMENTUM = 'momentum.module.'


@torch.no_grad()
def _momentum_from_loaded_online(retriever, incompatible_keys) -> None:
    """Load post-hook: a momentum copy the checkpoint lacks (e.g. of a
    module a head added to the momentum model, or a converted checkpoint
    without momentum weights) takes the online tensor it follows, rather
    than the copy of the online initialisation made at construction; the
    key is then no longer reported missing."""
    filled = []
    for key in list(incompatible_keys.missing_keys):
        at = key.find(_MOMENTUM)
        if at < 0:
            continue
        online_name = key[at + len(_MOMENTUM):]
        try:
            online = retriever.get_parameter(online_name)
            copy = retriever.momentum.module.get_parameter(online_name)
        except AttributeError:
            try:
                online = retriever.get_buffer(online_name)
                copy = retriever.momentum.module.get_buffer(online_name)
            except AttributeError:
                continue
        copy.copy_(online)
        incompatible_keys.missing_keys.remove(key)
        filled.append(online_name)
    if filled:
        from mmengine.logging import print_log
        print_log(f'{len(filled)} momentum tensors absent from the '
                  'checkpoint start as the loaded online weights.',
                  logger='current')


@MODELS.register_module()
class FusionRetriever(BaseRetriever):
    """Unimodal encoders, a fusion encoder, and training heads.

    A method is a set of heads: ALBEF = ``MomentumITCHead`` + ``ITMHead``;
    LAIP adds ``FusionTripletHead``, a ``MaskedTokenHead`` with a
    ``PhraseMasker`` (MPM) and ``LocalAlignmentHead`` (BidirAtt). Every
    training batch is encoded once into a
    :class:`~tbps.models.heads.fusion_batch.FusionBatch` (its docstring is
    the head contract) and each head's ``loss(batch)`` dict is merged,
    scaled by ``loss_weights[NAME]``. Inference: coarse similarity of the
    projected [CLS] features, then each query's top-k re-scored by the
    fusion encoder and the ITM head (:meth:`rerank`).

    Args:
        image_encoder, text_encoder (dict): Unimodal encoders returning
            ``(global, tokens)``; text ``vocab_size=None`` = tokenizer's.
        fusion_encoder (dict): A :class:`BertFusionEncoder` config;
            ``encoder_width=None`` = the image encoder width.
        heads (dict): ``NAME -> head config``, run in this order (heads
            that rewrite the captions first, see :meth:`ordered_heads`). The
            retriever fills the head arguments ``embed_dim``, ``image_dim``,
            ``text_dim``, ``fusion_dim``, ``vocab_size`` and ``tokenizer``
            that a head's ``__init__`` takes and the config omits.
        embed_dim (int): ITC projection size (256).
        momentum (float, optional): EMA coefficient of the momentum copies
            of the encoders and projections (0.995), plus the modules heads
            name in their ``momentum_modules`` (dotted paths on this
            retriever, e.g. ``'fusion_encoder'``); ``None``: no momentum
            model (heads that need one refuse to build). Momentum copies a
            loaded checkpoint lacks start as the loaded online weights.
        loss_weights (dict): ``NAME -> weight`` (default 1; 0 skips that
            head). A training-stage hook may change it between epochs.
        rerank (dict): Inference re-ranking (:meth:`rerank`), keys ``k``
            (candidates re-scored per query, 128; 0 = coarse similarity
            only), ``head`` (the ITM head's name, ``'itm'``),
            ``batch_size`` (pairs per fusion pass, 256), ``image_chunk``
            (gallery images whose cross-attention keys/values are held at
            once, 16), ``score`` (``'itm'``: the ITM positive logit, others
            ``fill`` = -100, as ALBEF; ``'itm+sim'``: APTM's min-max(ITM) +
            ``sim_weight`` (0.002) x min-max(similarity)) and ``pair_score``
            (what "ITM" is: ``'logit'``, the match logit as ALBEF;
            ``'diff'``, match minus no-match logit; ``'prob'``, the match
            probability, which ranks as ``'diff'``).
    """

    def __init__(self, image_encoder: dict, text_encoder: dict,
                 fusion_encoder: dict, heads: Dict[str, dict],
                 embed_dim: int = 256, momentum: Optional[float] = 0.995,
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
        self.image_proj = MODELS.build(dict(
            type='LinearProjection', in_dim=self.image_encoder.embed_dim,
            out_dim=embed_dim))
        self.text_proj = MODELS.build(dict(
            type='LinearProjection', in_dim=self.text_encoder.embed_dim,
            out_dim=embed_dim))
        if not heads:
            raise ValueError('FusionRetriever needs at least one head, e.g. '
                             "heads=dict(itc=dict(type='MomentumITCHead')).")
        provided = dict(
            embed_dim=embed_dim, image_dim=self.image_encoder.embed_dim,
            text_dim=self.text_encoder.embed_dim,
            fusion_dim=self.fusion_encoder.embed_dim,
            vocab_size=self.tokenizer.vocab_size, tokenizer=self.tokenizer)
        self.heads = nn.ModuleDict({
            name: self._build_head(name, cfg, provided)
            for name, cfg in heads.items()})
        self._momentum_extra = self._head_momentum_modules()
        self.momentum = None
        if momentum is not None:
            self.momentum = ExponentialMovingAverage(
                self._momentum_sources(), momentum=1.0 - momentum)
            self.register_load_state_dict_post_hook(
                _momentum_from_loaded_online)
        for name, head in self.heads.items():
            if getattr(head, 'needs_momentum', False) and \
                    self.momentum is None:
                raise ValueError(f'Head {name!r} ({type(head).__name__}) '
                                 'needs momentum encoders; set '
                                 'model.momentum (e.g. 0.995).')
        self.loss_weights = {k: 1.0 for k in self.heads}
        unknown = set(loss_weights or {}) - set(self.heads)
        if unknown:
            raise ValueError(f'Unknown loss_weights keys {sorted(unknown)}; '
                             f'the heads are {list(self.heads)}.')
        self.loss_weights.update(loss_weights or {})
        self.rerank_cfg = dict(RERANK_DEFAULTS, **(rerank or {}))
        check_rerank_cfg(self.rerank_cfg)
        if self.rerank_cfg['k'] and self.rerank_cfg['head'] not in self.heads:
            raise ValueError(
                f"rerank.head {self.rerank_cfg['head']!r} is not one of the "
                f'heads {list(self.heads)}; name the ITM head or set '
                'rerank.k=0.')

    @staticmethod
    def _build_head(name: str, cfg: dict, provided: dict) -> nn.Module:
        """Build a head, filling the provided arguments its class takes."""
        cfg = dict(cfg)
        cls = MODELS.get(cfg['type']) if isinstance(cfg.get('type'), str) \
            else cfg.get('type')
        if cls is None:
            # Let the registry raise its own error naming the type.
            return MODELS.build(cfg)
        params = inspect.signature(cls.__init__).parameters
        for key, value in provided.items():
            if key not in cfg and key in params:
                cfg[key] = value
        head = MODELS.build(cfg)
        if not callable(getattr(head, 'loss', None)):
            raise TypeError(f'Head {name!r} ({type(head).__name__}) has no '
                            'loss(batch) method.')
        return head

    def _head_momentum_modules(self) -> Tuple[str, ...]:
        """Sorted dotted paths of the extra modules heads want momentum
        copies of (their ``momentum_modules``), each checked to exist."""
        paths = set()
        for name, head in self.heads.items():
            for path in getattr(head, 'momentum_modules', ()):
                try:
                    self.get_submodule(path)
                except AttributeError:
                    raise ValueError(
                        f'Head {name!r} wants a momentum copy of {path!r}, '
                        'which is not a module of this FusionRetriever.'
                    ) from None
                paths.add(path)
        return tuple(sorted(paths))

    def _momentum_sources(self) -> nn.ModuleDict:
        """The online modules the momentum model follows, paired by
        structure (the same ModuleDict layout every call): the encoders,
        projections and the heads' ``momentum_modules``, nested by their
        paths so that ``momentum.module.X`` copies ``X``."""
        tree = nn.ModuleDict(dict(
            image_encoder=self.image_encoder, text_encoder=self.text_encoder,
            image_proj=self.image_proj, text_proj=self.text_proj))
        for path in self._momentum_extra:
            *parents, leaf = path.split('.')
            node = tree
            for part in parents:
                if part not in node:
                    node[part] = nn.ModuleDict()
                node = node[part]
            node[leaf] = self.get_submodule(path)
        return tree

    # -- features -------------------------------------------------------
    def extract_image_feat(self, images):
        """-> ``global`` [B, D] (projected), ``tokens`` [B, 1+N, C]."""
        cls, tokens = self.image_encoder(images)
        return {'global': self.image_proj(cls), 'tokens': tokens}

    def extract_text_feat(self, text, cls_attention: bool = False):
        """-> ``global`` [B, D] (projected), ``tokens`` [B, L, C],
        ``mask`` [B, L]; with ``cls_attention`` also the text encoder's
        ``cls_attention`` [B, layers, L] (no gradient)."""
        if cls_attention:
            if not hasattr(self.text_encoder, 'forward_with_cls_attention'):
                raise TypeError(
                    f'{type(self.text_encoder).__name__} cannot give its '
                    '[CLS] attention, which a head\'s masker needs '
                    '(e.g. AttentionGuidedMasker); use BertTextEncoder.')
            cls, tokens, attention = \
                self.text_encoder.forward_with_cls_attention(
                    text['input_ids'], text['attention_mask'])
        else:
            cls, tokens = self.text_encoder(text['input_ids'],
                                            text['attention_mask'])
        feats = {'global': self.text_proj(cls), 'tokens': tokens,
                 'mask': text['attention_mask']}
        if cls_attention:
            feats['cls_attention'] = attention
        return feats

    def fused_cls(self, text_tokens, text_mask, image_tokens=None, **kw):
        """Fusion [CLS] token [B, C] of caption/image pairs."""
        return self.fusion_encoder(text_tokens, text_mask, image_tokens,
                                   **kw)[0][:, 0]

    # -- inference: top-k re-ranking ------------------------------------
    def predict(self, inputs: dict, data_samples: List) -> List:
        """Base fields (``image_feat`` / ``text_feat``) plus, when
        re-ranking is on (``rerank.k > 0``), what :meth:`rerank` needs of a
        query: ``text_input_ids`` and ``text_attention_mask`` [L] (trimmed
        to the caption's length). Gallery image tokens are not kept: the
        evaluation loop encodes them again a chunk at a time
        (:class:`tbps.engine.GalleryImageTokens`)."""
        data_samples = super().predict(inputs, data_samples)
        text = inputs.get('text')
        if self.rerank_cfg['k'] and text is not None:
            mask = text['attention_mask']
            # last real token + 1 (right padding)
            keep = (mask.cumsum(1) * mask).argmax(1) + 1
            for row, i in enumerate(inputs['text_index'].tolist()):
                n = int(keep[row])
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
        :mod:`tbps.evaluation.functional.rerank`); the final score follows
        ``rerank.score``. Runs in eval mode (no dropout) and without
        gradients.

        Args:
            similarity: [Q, G] coarse scores, e.g. ``encode_text(q) @
                encode_image(g).T``.
            text_inputs: The Q queries: a list of captions (tokenised here)
                or ``dict(input_ids=[Q, L], attention_mask=[Q, L])``.
            image_tokens: [G, N, C] image encoder tokens of the gallery
                (``extract_image_feat(images)['tokens']``), a sequence of
                G [N, C] tensors, or a lazy sequence whose slices are
                [n, N, C] tensors (:class:`tbps.engine.GalleryImageTokens`);
                any device, moved one chunk at a time.
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
                self.fusion_encoder, self.heads[cfg['head']], k=k,
                batch_size=cfg['batch_size'],
                image_chunk=cfg['image_chunk'], score=cfg['score'],
                fill=cfg['fill'], sim_weight=cfg['sim_weight'],
                pair_score=cfg['pair_score'],
                # a progress bar where a person waits (CUHK test: 788k pairs)
                progress=ids.shape[0] * min(k, similarity.shape[1]) >= 100000)
        finally:
            self.train(was_training)
        return scores.to(similarity.device)

    # -- training -------------------------------------------------------
    def momentum_model(self) -> nn.ModuleDict:
        """The momentum copies (mirroring the online paths, see
        :meth:`_momentum_sources`) as they are; no EMA update here."""
        if self.momentum is None:
            raise RuntimeError('This FusionRetriever has no momentum model '
                               '(momentum=None).')
        return self.momentum.module

    @torch.no_grad()
    def momentum_embeds(self, images: torch.Tensor,
                        text: Dict[str, torch.Tensor]
                        ) -> Tuple[torch.Tensor, torch.Tensor]:
        """EMA-update the momentum model, then its unit-norm (image, text)
        features [B, D]."""
        m = self.momentum_model()
        self.momentum.update_parameters(self._momentum_sources())
        image = F.normalize(m.image_proj(m.image_encoder(images)[0]), dim=-1)
        text = F.normalize(m.text_proj(m.text_encoder(
            text['input_ids'], text['attention_mask'])[0]), dim=-1)
        return image, text

    def ordered_heads(self) -> List[Tuple[str, nn.Module]]:
        """``(name, head)`` in run order: heads that rewrite the captions
        (``edits_text``, e.g. AGA's ``TextEnricher``) first, then the others
        in config order. (Config order alone is not reliable: mmengine
        writes the config it saves in the work dir with sorted keys.)"""
        items = list(self.heads.items())
        return [i for i in items if getattr(i[1], 'edits_text', False)] + \
            [i for i in items if not getattr(i[1], 'edits_text', False)]

    def loss(self, inputs: dict, data_samples: List) -> Dict[str, torch.Tensor]:
        """Every head with a non-zero weight, in :meth:`ordered_heads`
        order, on one :class:`FusionBatch`; losses scaled by
        ``loss_weights[NAME]``."""
        self.check_pairs(inputs)
        batch = FusionBatch(self, inputs, data_samples)
        losses = {}
        for name, head in self.ordered_heads():
            weight = float(self.loss_weights.get(name, 0.0))
            if not weight:
                continue
            for key, value in head.loss(batch).items():
                if key in losses:
                    raise KeyError(f'Head {name!r} returned {key!r}, which '
                                   'another head already returned; set its '
                                   'loss_name.')
                losses[key] = weight * value if 'loss' in key else value
        return losses
