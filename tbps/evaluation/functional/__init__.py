"""Functional evaluation helpers: rank metrics."""
from .rank_metrics import positive_ranks, rank_metrics

__all__ = ['rank_metrics', 'positive_ranks']
