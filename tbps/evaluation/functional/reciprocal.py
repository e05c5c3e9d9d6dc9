"""Cross-modal k-reciprocal re-ranking (TextReID, Han et al. 2021).

A gallery image g is promoted for a query q when g's own nearest gallery
neighbours are also among q's best matches:

    A_q = top-k gallery items of q          (by query-gallery similarity)
    B_g = top-k gallery neighbours of g     (by gallery-gallery similarity,
                                             g itself included)
    J[q, g] = |A_q & B_g| / |A_q | B_g|
    S'[q, g] = <q, g> + alpha * J[q, g]

TextReID's ``k_reciprocal`` computes J with a Python double loop over all
(q, g) pairs, O(Q x G) set operations. Only the pairs whose sets intersect
have J > 0, about k * k per query: :func:`reciprocal_jaccard` finds them
through inverted neighbour lists, vectorised. Besides the [Q, G] output,
memory is O((Q + G) k^2); the gallery-gallery neighbours are found in
chunks (:func:`chunked_topk`) without the [G, G] matrix.
"""
from typing import Tuple

import torch

from .search import chunked_topk


@torch.no_grad()
def reciprocal_jaccard(query_topk: torch.Tensor, gallery_topk: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Jaccard overlap of neighbour sets, for the pairs where it is > 0.

    Every query item a in A_q meets the gallery items g with a in B_g (the
    inverted lists of ``gallery_topk``); counting how often each (q, g) pair
    is met gives |A_q & B_g|, and |A_q | B_g| = |A_q| + |B_g| - that.

    Args:
        query_topk: [Q, k] gallery indices, each row's A_q (distinct).
        gallery_topk: [G, k'] gallery indices, each row's B_g (distinct).

    Returns:
        tuple: query rows [P], gallery columns [P] and J [P] (float32) of
        the P pairs whose sets intersect.
    """
    num_gallery, k_gallery = gallery_topk.shape
    k_query = query_topk.shape[1]
    device = query_topk.device
    gallery_topk = gallery_topk.to(device)
    # inverted lists: for each item a, the g whose B_g holds it
    members = gallery_topk.reshape(-1)
    owners = torch.arange(num_gallery, device=device).repeat_interleave(
        k_gallery)
    order = torch.argsort(members, stable=True)
    owners = owners[order]
    counts = torch.bincount(members, minlength=num_gallery)
    starts = torch.cumsum(counts, 0) - counts
    # expand every (q, a in A_q) into the (q, g) pairs of a's list
    items = query_topk.reshape(-1)
    rows = torch.arange(query_topk.shape[0], device=device).repeat_interleave(
        k_query)
    lengths = counts[items]
    first = torch.cumsum(lengths, 0) - lengths
    offset = torch.arange(int(lengths.sum()), device=device) \
        - first.repeat_interleave(lengths)
    cols = owners[starts[items].repeat_interleave(lengths) + offset]
    rows = rows.repeat_interleave(lengths)
    pairs, inter = torch.unique(rows * num_gallery + cols, return_counts=True)
    inter = inter.float()
    return (pairs // num_gallery, pairs % num_gallery,
            inter / (k_query + k_gallery - inter))


@torch.no_grad()
def cross_modal_reciprocal(query_feats: torch.Tensor,
                           gallery_feats: torch.Tensor, k: int = 5,
                           alpha: float = 0.05) -> torch.Tensor:
    """TextReID's re-ranked similarity ``q @ g.T + alpha * J`` [Q, G].

    Args:
        query_feats: [Q, D] text features; gallery_feats: [G, D] image
            features, unit norm for cosine similarity (used as given).
        k (int): Size of both neighbour sets (5 in TextReID); at most G.
        alpha (float): Weight of the Jaccard term (0.05).

    Returns:
        The [Q, G] similarity (float32, on the features' device).
    """
    num_gallery = gallery_feats.shape[0]
    if not 1 <= int(k) <= num_gallery:
        raise ValueError(f'cross_modal_reciprocal: k must be in 1..{num_gallery}'
                         f' (the gallery size), got {k}')
    query_feats, gallery_feats = query_feats.float(), gallery_feats.float()
    similarity = query_feats @ gallery_feats.t()
    query_topk = similarity.topk(int(k), dim=1).indices
    _, gallery_topk = chunked_topk(gallery_feats, gallery_feats, int(k))
    rows, cols, jaccard = reciprocal_jaccard(query_topk, gallery_topk)
    similarity[rows, cols] += alpha * jaccard
    return similarity
