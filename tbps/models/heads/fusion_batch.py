"""What a fusion head receives: one training batch with its features and
the encoder passes a head may run.

:class:`~tbps.models.retrievers.FusionRetriever` encodes each training batch
once and hands the same :class:`FusionBatch` to every head in config order
(``heads=dict(NAME=cfg, ...)``); a head returns a dict of named losses from
``loss(batch)``. The contract of a head (tbps's own and plugins alike):

* ``loss(batch) -> dict``: keys containing ``'loss'`` are summed into the
  training loss after scaling by the retriever's ``loss_weights[NAME]``;
  other keys are logged as they are. Keys must be unique across heads.
* A head whose weight is 0 is not called (its computation is skipped).
* ``needs_momentum = True`` makes the retriever refuse to build without a
  momentum model; ``momentum_modules`` (dotted paths on the retriever, e.g.
  ``('fusion_encoder',)``) adds momentum copies of those modules.
* ``__init__`` may take any of ``embed_dim`` (ITC projection size),
  ``image_dim``/``text_dim`` (unimodal encoder widths), ``fusion_dim``
  (fusion encoder width), ``vocab_size`` and ``tokenizer``: the retriever
  fills those the config leaves out.

What a head reads from the batch:

==========================  ================================================
``images``                  [B, 3, H, W] preprocessed images
``text``                    ``input_ids``/``attention_mask`` [B, L]
``data_samples``            the B :class:`TBPSDataSample` (``phrases``...)
``pids``                    [B] identities
``image_feat``              ``global`` [B, D] (projected), ``tokens``
                            [B, 1+N, C] (image encoder output)
``text_feat``               ``global`` [B, D], ``tokens`` [B, L, C], ``mask``
                            and, when a head asks for it (its
                            ``needs_text_attention``), ``cls_attention``
                            [B, layers, L] of the text encoder
``image_embed``             [B, D] unit-norm ``image_feat['global']``
``text_embed``              [B, D] unit-norm ``text_feat['global']``
``momentum_embeds()``       (image, text) [B, D] unit-norm features of the
                            momentum encoders, after their EMA update (once
                            per batch; needs ``FusionRetriever(momentum=...)``)
``momentum_model()``        the momentum copies as of the last EMA update
                            (no update): ``image_encoder``,
                            ``text_encoder``, projections and the modules
                            heads asked for (``momentum_modules``, nested
                            by path, e.g. ``heads.mlm.predictor``)
``encode_text(ids, mask)``  the text encoder -> (global [B', C], tokens
                            [B', L', C])
``fuse(tokens, mask, image_tokens, attention_layer=None)``
                            the fusion encoder -> (fused [B', L', C],
                            cross-attention [B', heads, L', N] or None)
``heads``                   every head by name (to reuse another head's
                            layers or cached passes, named in the config)
``cached(key, fn)``         ``fn()`` once per batch: heads share passes
                            through it (e.g. ITM logits, a masked pass)
``retext(input_ids)``       replace the captions (same shape) and re-encode
                            them for the heads that follow; only for a head
                            with ``edits_text = True``, which the retriever
                            runs before the others (AGA's TextEnricher)
``text_features(text)``     the text encoder + projection on other
                            sentences (``input_ids``/``attention_mask``) ->
                            ``global`` [B', D], ``tokens``, ``mask``
``with_text(text)``         a view of this batch with other captions (same
                            images), e.g. APTM's EDA view
==========================  ================================================
"""
import copy
from typing import Any, Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F


class FusionBatch:
    """One training batch of a fusion retriever, encoded once (see the
    module docstring for the fields)."""

    def __init__(self, retriever, inputs: dict, data_samples):
        self._retriever = retriever
        self.images = inputs['images']
        self.text = inputs['text']
        self.data_samples = data_samples
        self.pids = retriever.pids_of(data_samples, self.images.device)
        self.image_feat = retriever.extract_image_feat(self.images)
        needs_attention = any(
            getattr(head, 'needs_text_attention', False)
            for name, head in retriever.heads.items()
            if retriever.loss_weights.get(name, 0.0))
        kwargs = dict(cls_attention=True) if needs_attention else {}
        self.text_feat = retriever.extract_text_feat(self.text, **kwargs)
        self.image_embed = F.normalize(self.image_feat['global'], dim=-1)
        self.text_embed = F.normalize(self.text_feat['global'], dim=-1)
        self._cache: Dict[Any, Any] = {}

    @property
    def heads(self):
        return self._retriever.heads

    @property
    def tokenizer(self):
        return self._retriever.tokenizer

    def cached(self, key, fn: Callable[[], Any]) -> Any:
        """``fn()``, computed on the first call with ``key`` in this batch."""
        if key not in self._cache:
            self._cache[key] = fn()
        return self._cache[key]

    def momentum_embeds(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Unit-norm momentum features (image, text) [B, D], no gradient;
        the EMA update of the momentum encoders runs on the first call."""
        embeds = self.cached('momentum_embeds', lambda: self._retriever
                             .momentum_embeds(self.images, self.text))
        if embeds is None:
            raise RuntimeError('A batch view (with_text) has no momentum '
                               'features: run momentum heads on the batch '
                               'itself.')
        return embeds

    def momentum_model(self):
        """The retriever's momentum copies (a ModuleDict mirroring the
        online paths) as of the last EMA update; no update here."""
        return self._retriever.momentum_model()

    def retext(self, input_ids: torch.Tensor) -> None:
        """Use ``input_ids`` [B, L] (same mask) as the batch's captions
        from now on: ``text``, ``text_feat`` and ``text_embed`` are
        recomputed; passes cached before (e.g. a masked pass) stay."""
        if 'momentum_embeds' in self._cache:
            raise RuntimeError('retext() after the momentum features were '
                               'computed: the text-editing head must run '
                               'first.')
        self.text = dict(self.text, input_ids=input_ids)
        self.text_feat = self._retriever.extract_text_feat(self.text)
        self.text_embed = F.normalize(self.text_feat['global'], dim=-1)

    def text_features(self, text: Dict[str, torch.Tensor]
                      ) -> Dict[str, torch.Tensor]:
        """Text encoder + projection on ``text`` (``input_ids``,
        ``attention_mask`` [B', L']): ``global`` [B', D] (projected, not
        normalised), ``tokens`` [B', L', C], ``mask``."""
        return self._retriever.extract_text_feat(text)

    def with_text(self, text: Dict[str, torch.Tensor]) -> 'FusionBatch':
        """The same images and samples with other captions ``text`` [B, L']
        (e.g. a second view of each caption), encoded anew and with its own
        cache. Heads that need momentum features cannot run on it (the
        momentum encoders update once per batch)."""
        if text['input_ids'].shape[0] != self.images.shape[0]:
            raise ValueError(f'with_text: {text["input_ids"].shape[0]} '
                             f'captions for {self.images.shape[0]} images.')
        view = copy.copy(self)
        view.text = text
        view.text_feat = self.text_features(text)
        view.text_embed = F.normalize(view.text_feat['global'], dim=-1)
        view._cache = {'momentum_embeds': None}
        return view

    def encode_text(self, input_ids: torch.Tensor,
                    attention_mask: torch.Tensor):
        """The text encoder on (e.g. masked) token ids: -> (global
        [B', C], tokens [B', L', C])."""
        return self._retriever.text_encoder(input_ids, attention_mask)

    def fuse(self, text_tokens: torch.Tensor, text_mask: torch.Tensor,
             image_tokens: torch.Tensor,
             attention_layer: Optional[int] = None):
        """Fusion encoder: -> (fused tokens [B', L', C], that layer's
        cross-attention probabilities [B', heads, L', N] or None)."""
        return self._retriever.fusion_encoder(
            text_tokens, text_mask, image_tokens,
            attention_layer=attention_layer)
