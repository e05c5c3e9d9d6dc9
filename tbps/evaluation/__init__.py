"""Evaluation: functional rank metrics and registered metrics."""
from . import functional, metrics  # noqa: F401
from .functional import rank_metrics
from .metrics import TextToImageRetrievalMetric

__all__ = [
    'functional', 'metrics', 'rank_metrics', 'TextToImageRetrievalMetric'
]
