"""Validation / test loops that let retrieval metrics call back into the
model (top-k re-ranking by a cross-modal encoder)."""
from contextlib import contextmanager
from typing import Optional, Sequence

import torch
from mmengine.dataset import pseudo_collate
from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, ValLoop

from tbps.registry import LOOPS


class GalleryImageTokens:
    """Image-encoder tokens of gallery images, computed when a slice is
    read: ``tokens[a:b]`` -> [b - a, N, C] (``tokens[i]`` -> [N, C]).

    Re-ranking walks the gallery in chunks of ``rerank.image_chunk``
    images, so at most one chunk of tokens exists at a time instead of the
    whole gallery's (CUHK-PEDES test: 3074 x 193 x 768 floats, 1.8 GB),
    at the cost of a second image-encoder pass over the gallery.

    Args:
        model: The retriever (its ``data_preprocessor`` and
            ``extract_image_feat``).
        dataset: The evaluation dataset; ``dataset[i]`` is a packed image
            sample (its test pipeline, no random augmentation).
        indices (Sequence[int]): Dataset indices of the gallery, in order.
    """

    def __init__(self, model, dataset, indices: Sequence[int]):
        self.model, self.dataset = model, dataset
        self.indices = [int(i) for i in indices]

    def __len__(self) -> int:
        return len(self.indices)

    @torch.no_grad()
    def __getitem__(self, index):
        single = not isinstance(index, slice)
        wanted = [self.indices[index]] if single else self.indices[index]
        data = self.model.data_preprocessor(
            pseudo_collate([self.dataset[i] for i in wanted]), False)
        images = data['inputs'].get('images')
        if images is None or len(images) != len(wanted):
            raise ValueError(f'dataset items {wanted} are not all gallery '
                             'images')
        tokens = self.model.extract_image_feat(images)['tokens']
        return tokens[0] if single else tokens


@contextmanager
def bind_reranker(evaluator, model, dataset=None):
    """While the block runs, every metric of ``evaluator`` with a
    ``reranker`` attribute gets ``reranker(similarity, text_inputs,
    gallery_indices)``: the model's ``rerank`` with the gallery's image
    tokens computed on demand from ``dataset`` (:class:`GalleryImageTokens`).
    None for models that do not re-rank (e.g. ``DualEncoderRetriever``)."""
    if is_model_wrapper(model):
        model = model.module
    rerank = getattr(model, 'rerank', None)
    reranker: Optional[callable] = None
    if rerank is not None:
        def reranker(similarity, text_inputs, gallery_indices):
            if dataset is None:
                raise RuntimeError('bind_reranker needs the evaluation '
                                   'dataset to encode gallery images.')
            return rerank(similarity, text_inputs, GalleryImageTokens(
                model, dataset, gallery_indices))
    metrics = [m for m in evaluator.metrics if hasattr(m, 'reranker')]
    for metric in metrics:
        metric.reranker = reranker
    try:
        yield
    finally:
        for metric in metrics:
            metric.reranker = None


class _RerankBindingMixin:
    """``run`` with the model's ``rerank`` bound to the metrics (see
    :class:`TextToImageRetrievalMetric`); mix in before an mmengine loop."""

    def run(self) -> dict:
        with bind_reranker(self.evaluator, self.runner.model,
                           self.dataloader.dataset):
            return super().run()


@LOOPS.register_module()
class RetrievalValLoop(_RerankBindingMixin, ValLoop):
    """mmengine's ``ValLoop`` with the model's ``rerank`` bound to the
    metrics (see :class:`TextToImageRetrievalMetric`)."""


@LOOPS.register_module()
class RetrievalTestLoop(_RerankBindingMixin, TestLoop):
    """mmengine's ``TestLoop`` with the model's ``rerank`` bound to the
    metrics (see :class:`TextToImageRetrievalMetric`)."""
