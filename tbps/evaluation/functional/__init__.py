"""Functional evaluation helpers: rank metrics and ITM re-ranking."""
from .rank_metrics import positive_ranks, rank_metrics
from .rerank import (RERANK_DEFAULTS, check_rerank_cfg, combine_scores,
                     itm_logits_of_candidates, rerank_similarity,
                     topk_candidates)

__all__ = ['rank_metrics', 'positive_ranks', 'RERANK_DEFAULTS',
           'check_rerank_cfg', 'combine_scores', 'itm_logits_of_candidates',
           'rerank_similarity', 'topk_candidates']
