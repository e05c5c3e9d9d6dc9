"""Validation / test loops that let retrieval metrics call back into the
model (top-k re-ranking by a cross-modal encoder)."""
from contextlib import contextmanager

from mmengine.model import is_model_wrapper
from mmengine.runner import TestLoop, ValLoop

from tbps.registry import LOOPS


@contextmanager
def bind_reranker(evaluator, model):
    """While the block runs, every metric of ``evaluator`` with a
    ``reranker`` attribute gets ``model.rerank`` (None for models that do
    not re-rank, e.g. ``DualEncoderRetriever``)."""
    if is_model_wrapper(model):
        model = model.module
    rerank = getattr(model, 'rerank', None)
    metrics = [m for m in evaluator.metrics if hasattr(m, 'reranker')]
    for metric in metrics:
        metric.reranker = rerank
    try:
        yield
    finally:
        for metric in metrics:
            metric.reranker = None


class _RerankBindingMixin:
    """``run`` with the model's ``rerank`` bound to the metrics (see
    :class:`TextToImageRetrievalMetric`); mix in before an mmengine loop."""

    def run(self) -> dict:
        with bind_reranker(self.evaluator, self.runner.model):
            return super().run()


@LOOPS.register_module()
class RetrievalValLoop(_RerankBindingMixin, ValLoop):
    """mmengine's ``ValLoop`` with the model's ``rerank`` bound to the
    metrics (see :class:`TextToImageRetrievalMetric`)."""


@LOOPS.register_module()
class RetrievalTestLoop(_RerankBindingMixin, TestLoop):
    """mmengine's ``TestLoop`` with the model's ``rerank`` bound to the
    metrics (see :class:`TextToImageRetrievalMetric`)."""
