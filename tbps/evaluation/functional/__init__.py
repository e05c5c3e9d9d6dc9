"""Functional evaluation helpers: rank metrics, ITM and k-reciprocal
re-ranking and bounded-memory top-k search."""
from .rank_metrics import positive_ranks, rank_metrics
from .reciprocal import cross_modal_reciprocal, reciprocal_jaccard
from .search import FaissIndex, chunked_topk, topk_search
from .rerank import (RERANK_DEFAULTS, check_rerank_cfg, combine_scores,
                     itm_logits_of_candidates, rerank_similarity,
                     topk_candidates)

__all__ = ['rank_metrics', 'positive_ranks', 'RERANK_DEFAULTS',
           'check_rerank_cfg', 'combine_scores', 'itm_logits_of_candidates',
           'rerank_similarity', 'topk_candidates', 'chunked_topk',
           'topk_search', 'FaissIndex', 'cross_modal_reciprocal',
           'reciprocal_jaccard']
