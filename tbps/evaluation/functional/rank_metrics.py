"""Rank metrics for retrieval: R@k, mAP and mINP.

Notation, for one query with ``n >= 1`` correct ("positive") gallery items
whose 0-based ranks in the query's ranking, sorted ascending, are
``r_1 < r_2 < ... < r_n``:

* ``R@k  = 1 if r_1 < k else 0``  (a correct item in the top ``k``)
* ``AP   = (1 / n) * sum_{m=1..n} m / (r_m + 1)``  (precision at the rank
  of every correct item, averaged over the correct items)
* ``INP  = n / (r_n + 1)``  (correct items over the 1-based rank of the
  hardest one; Ye et al., "Deep Learning for Person Re-identification")

Every metric is averaged over the queries and reported in percent.

The ranking of a query sorts its similarity row in descending order with
ties broken by gallery index (a stable sort: among equal scores the lower
gallery index ranks first). No sort is needed to evaluate the formulas
above, only the ranks of the positives, and the rank of gallery item ``j``
for a query with row ``s`` is a count::

    rank(j) = #{g : s[g] > s[j]} + #{g < j : s[g] == s[j]}
            = #{g < j : s[g] >= s[j]} + #{g >= j : s[g] > s[j]}

With ``p = nextafter(s[j], -inf)`` (the largest float below ``s[j]``),
``s[g] >= s[j]`` is ``s[g] > p`` for finite normal values, so the rank is
one vectorised count ``#{g : s[g] > t[g]}`` against the step threshold
``t[g] = p if g < j else s[j]``. That is ``O(n * G)`` cheap comparisons per
query instead of an ``O(G log G)`` sort of the row. Scores where the
``nextafter`` step is not safe (``-inf``; zero and subnormal values when the
arithmetic flushes denormals to zero) take the literal two-term count
above. Queries whose number of positives is large compared with ``log G``
fall back to a stable argsort of their rows, which is then cheaper. Both
routes give exactly the ranks of ``torch.argsort(row, descending=True,
stable=True)``.

Queries are grouped by their number of positives (so no padding is needed)
and processed in chunks of rows, which bounds the temporary memory.
"""
import math
import warnings
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch

__all__ = ['rank_metrics', 'positive_ranks']

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence]

# Temporary elements per chunk (chunk rows x positives x gallery size) when
# ``chunk_size`` is None; each costs about 6 bytes (48 MB on CPU). Few large
# chunks matter more than cache fit: every tensor op is a parallel region,
# and on a loaded CPU each one can stall on a descheduled worker thread.
_CPU_CHUNK_ELEMENTS = 1 << 23
_CUDA_CHUNK_ELEMENTS = 1 << 26


def _as_tensor(x: ArrayLike, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    try:
        return torch.as_tensor(x)
    except Exception as e:  # noqa: BLE001 - re-raised with context
        raise TypeError(f'{name} must be a tensor or an array, got '
                        f'{type(x).__name__}') from e


def _check_inputs(similarity: ArrayLike, query_pids: ArrayLike,
                  gallery_pids: ArrayLike):
    similarity = _as_tensor(similarity, 'similarity')
    query_pids = _as_tensor(query_pids, 'query_pids')
    gallery_pids = _as_tensor(gallery_pids, 'gallery_pids')
    if similarity.ndim != 2:
        raise ValueError('similarity must be a 2-D [num_queries, num_gallery]'
                         f' matrix, got shape {tuple(similarity.shape)}')
    num_queries, num_gallery = similarity.shape
    if num_queries == 0 or num_gallery == 0:
        raise ValueError('similarity must have at least one query and one '
                         f'gallery item, got shape {tuple(similarity.shape)}')
    for name, pids, size, what in (('query_pids', query_pids, num_queries,
                                    'num_queries (rows)'),
                                   ('gallery_pids', gallery_pids, num_gallery,
                                    'num_gallery (columns)')):
        if pids.ndim != 1:
            raise ValueError(f'{name} must be 1-D, got shape '
                             f'{tuple(pids.shape)}')
        if pids.numel() != size:
            raise ValueError(
                f'{name} has {pids.numel()} entries but similarity has '
                f'{size} {what}; similarity shape is '
                f'{tuple(similarity.shape)}')
        if pids.is_floating_point() or pids.is_complex():
            raise TypeError(f'{name} must hold integers, got {pids.dtype}')
    if similarity.is_complex():
        raise TypeError('similarity must be real, got complex')
    device = similarity.device
    return (similarity, query_pids.to(device, torch.long),
            gallery_pids.to(device, torch.long))


def _check_topk(topk) -> tuple:
    if isinstance(topk, (int, np.integer)):
        topk = (topk, )
    topk = tuple(topk)
    if not topk or any(
            isinstance(k, bool) or not isinstance(k,
                                                  (int, np.integer)) or k < 1
            for k in topk):
        raise ValueError('topk must be a positive int or a non-empty '
                         f'sequence of positive ints, got {topk}')
    return tuple(int(k) for k in topk)


def _match_positives(query_pids: torch.Tensor, gallery_pids: torch.Tensor):
    """Gallery items grouped by pid, and each query's group.

    Returns ``(order, start, count)``: ``order`` lists gallery indices
    sorted by pid then index; the positives of query ``i`` are
    ``order[start[i]:start[i] + count[i]]`` (ascending gallery index).
    """
    uniq, inverse, counts = torch.unique(gallery_pids,
                                         sorted=True,
                                         return_inverse=True,
                                         return_counts=True)
    order = torch.argsort(inverse, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.searchsorted(uniq, query_pids).clamp_(max=uniq.numel() - 1)
    found = uniq[slot] == query_pids
    count = torch.where(found, counts[slot], torch.zeros_like(slot))
    return order, starts[slot], count


def _denormals_honoured(device: torch.device, dtype: torch.dtype) -> bool:
    """False under flush-to-zero / denormals-are-zero arithmetic."""
    half_tiny = torch.full((1, ),
                           torch.finfo(dtype).tiny / 2,
                           dtype=dtype,
                           device=device)
    return bool((half_tiny > 0).item())


def _ranks_by_count(rows: torch.Tensor,
                    pos: torch.Tensor,
                    arange: torch.Tensor,
                    denormals: bool = True) -> torch.Tensor:
    """Stable descending rank of ``rows[c, pos[c, p]]`` within ``rows[c]``,
    by counting (see the module docstring). ``rows`` [C, G], ``pos`` [C, n],
    ``arange`` = ``0..G-1`` in ``pos``'s dtype.
    """
    values = rows.gather(1, pos.long())  # [C, n]
    lower = arange < pos.unsqueeze(-1)  # [C, n, G]: g < j
    below = torch.nextafter(values, values.new_tensor(-math.inf))
    thresh = torch.where(lower, below.unsqueeze(-1), values.unsqueeze(-1))
    ranks = (rows.unsqueeze(1) > thresh).sum(-1, dtype=torch.int32)
    # ``s >= v  <=>  s > nextafter(v, -inf)`` fails for v = -inf, and for
    # v in [-tiny, tiny] when denormals are flushed: count those pairs
    # literally, ``#{g: s > v} + #{g < j: s == v}``.
    special = torch.isneginf(values)
    if not denormals:
        special |= values.abs() <= torch.finfo(values.dtype).tiny
    if bool(special.any()):
        c, p = torch.nonzero(special, as_tuple=True)
        row, val, low = rows[c], values[c, p].unsqueeze(1), lower[c, p]
        ranks[c, p] = ((row > val).sum(-1, dtype=torch.int32) +
                       ((row == val) & low).sum(-1, dtype=torch.int32))
    return ranks


def _ranks_by_sort(rows: torch.Tensor, pos: torch.Tensor,
                   arange: torch.Tensor) -> torch.Tensor:
    """Same ranks from a full stable argsort (cheaper for many positives)."""
    order = torch.argsort(rows, dim=1, descending=True, stable=True)
    inv = torch.empty_like(order)
    inv.scatter_(1, order, arange.long().expand_as(order))
    return inv.gather(1, pos.long())


def positive_ranks(similarity: ArrayLike,
                   query_pids: ArrayLike,
                   gallery_pids: ArrayLike,
                   chunk_size: Optional[int] = None):
    """0-based ranks of every query's correct gallery items.

    The rank follows ``torch.argsort(similarity[i], descending=True,
    stable=True)`` exactly (ties broken by the lower gallery index), but is
    computed without sorting whole rows; see the module docstring.

    Args:
        similarity: ``[Q, G]`` scores, higher = more similar.
        query_pids: ``[Q]`` integer identities of the queries.
        gallery_pids: ``[G]`` integer identities of the gallery items.
        chunk_size (int, optional): at most this many query rows are
            compared at once. ``None`` bounds each chunk's temporaries to
            about 2**23 elements (48 MB) on CPU (2**26 on GPU).

    Returns:
        tuple: ``(ranks, offsets)``, a CSR layout: the ascending ranks of
        query ``i``'s positives are ``ranks[offsets[i]:offsets[i + 1]]``
        (``int64``, on ``similarity``'s device); a query without positives
        has an empty slice.
    """
    similarity, query_pids, gallery_pids = _check_inputs(
        similarity, query_pids, gallery_pids)
    return _positive_ranks(similarity, query_pids, gallery_pids, chunk_size)


def _work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Dtype the rows are compared in; the conversion keeps order and ties
    (integers exactly below 2**53)."""
    if dtype in (torch.float32, torch.float64):
        return dtype
    if dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    return torch.float64


def _positive_ranks(similarity, query_pids, gallery_pids, chunk_size):
    if chunk_size is not None and (isinstance(chunk_size, bool)
                                   or int(chunk_size) != chunk_size
                                   or chunk_size < 1):
        raise ValueError(
            f'chunk_size must be a positive int or None, got {chunk_size}')
    # A NaN makes the sum NaN (so can opposite infinities: then look).
    if bool(torch.isnan(similarity.sum())) and bool(similarity.isnan().any()):
        raise ValueError('similarity contains NaN')
    device = similarity.device
    num_queries, num_gallery = similarity.shape
    order, start, count = _match_positives(query_pids, gallery_pids)
    offsets = torch.zeros(num_queries + 1, dtype=torch.long, device=device)
    torch.cumsum(count, 0, out=offsets[1:])
    ranks = torch.empty(int(offsets[-1]), dtype=torch.long, device=device)
    # int32 indices halve the traffic of the ``g < j`` masks
    idx_dtype = torch.int32 if num_gallery < 2**31 else torch.long
    arange = torch.arange(num_gallery, device=device, dtype=idx_dtype)
    order = order.to(idx_dtype)
    dtype = _work_dtype(similarity.dtype)
    denormals = _denormals_honoured(device, dtype)
    budget = (_CUDA_CHUNK_ELEMENTS
              if device.type == 'cuda' else _CPU_CHUNK_ELEMENTS)
    # Counting costs ~n passes over a row, the stable sort ~c * log2(G).
    sort_above = max(8, int(2.5 * math.log2(max(num_gallery, 2))))
    # One bucket per distinct number of positives: no padding needed.
    for n in torch.unique(count).tolist():
        if n == 0:
            continue
        queries = torch.nonzero(count == n).squeeze(1)
        use_sort = n > sort_above
        rows_per_chunk = max(1,
                             budget // (num_gallery * (1 if use_sort else n)))
        if chunk_size is not None:
            rows_per_chunk = min(rows_per_chunk, int(chunk_size))
        step = torch.arange(n, device=device)
        for a in range(0, queries.numel(), rows_per_chunk):
            q = queries[a:a + rows_per_chunk]
            pos = order[start[q].unsqueeze(1) + step]  # [C, n], ascending
            rows = similarity.index_select(0, q).to(dtype)
            if use_sort:
                r = _ranks_by_sort(rows, pos, arange)
            else:
                r = _ranks_by_count(rows, pos, arange, denormals)
            r = r.sort(dim=1).values.long()
            ranks[offsets[q].unsqueeze(1) + step] = r
    return ranks, offsets


def rank_metrics(similarity: ArrayLike,
                 query_pids: ArrayLike,
                 gallery_pids: ArrayLike,
                 topk: Union[int, Sequence[int]] = (1, 5, 10),
                 chunk_size: Optional[int] = None) -> Dict[str, float]:
    """R@k, mAP and mINP of a retrieval, in percent.

    For a query with ``n`` correct gallery items at sorted 0-based ranks
    ``r_1 < ... < r_n`` (stable descending sort of its similarity row: equal
    scores rank by ascending gallery index):

    * ``R@k = 100 * mean_q [r_1 < k]``
    * ``mAP = 100 * mean_q (1/n) sum_m m / (r_m + 1)``
    * ``mINP = 100 * mean_q n / (r_n + 1)``

    Queries without any correct gallery item have undefined AP and INP;
    they are excluded from every average (R@k included) and a
    ``UserWarning`` reports how many there were. If no query has a correct
    item a ``ValueError`` is raised.

    Runs without a Python loop over queries and without sorting whole rows
    (see the module docstring); queries are processed in chunks, so the
    extra memory is bounded independently of ``Q``.

    Args:
        similarity: ``[Q, G]`` tensor or array, higher = more similar. On
            GPU the computation stays on GPU. NaN raises ``ValueError``.
        query_pids: ``[Q]`` integer identities of the queries.
        gallery_pids: ``[G]`` integer identities of the gallery items.
        topk (int | Sequence[int]): the ``k`` of each reported ``R{k}``;
            ``k`` may exceed ``G`` (then ``R{k}`` is 100).
        chunk_size (int, optional): at most this many query rows are
            processed at once; ``None`` picks it from a memory budget.

    Returns:
        dict: ``{'R1': ..., 'R5': ..., 'R10': ..., 'mAP': ..., 'mINP': ...}``
        (one ``R{k}`` per ``k`` in ``topk``, in that order) of Python floats
        in ``[0, 100]``.
    """
    topk = _check_topk(topk)
    similarity, query_pids, gallery_pids = _check_inputs(
        similarity, query_pids, gallery_pids)
    ranks, offsets = _positive_ranks(similarity, query_pids, gallery_pids,
                                     chunk_size)
    count = offsets[1:] - offsets[:-1]
    valid = count > 0
    num_valid = int(valid.sum())
    num_queries = count.numel()
    if num_valid == 0:
        raise ValueError(
            f'none of the {num_queries} queries has a gallery item with the '
            'same pid; R@k, mAP and mINP are undefined')
    if num_valid < num_queries:
        warnings.warn(
            f'{num_queries - num_valid} of {num_queries} queries have no '
            'gallery item with the same pid; they are excluded from R@k, '
            'mAP and mINP',
            UserWarning,
            stacklevel=2)

    # Per positive: its 1-based position m among the query's positives and
    # the precision m / (r_m + 1) at its rank.
    owner = torch.repeat_interleave(
        torch.arange(num_queries, device=ranks.device), count)
    m = torch.arange(1, ranks.numel() + 1, device=ranks.device) - \
        offsets[:-1][owner]
    precision = m.double() / (ranks + 1).double()
    ap = torch.zeros(num_queries, dtype=torch.float64, device=ranks.device)
    ap.index_add_(0, owner, precision)
    ap = ap[valid] / count[valid].double()
    first = ranks[offsets[:-1][valid]]
    last = ranks[offsets[1:][valid] - 1]
    inp = count[valid].double() / (last + 1).double()

    results = {}
    for k in topk:
        results[f'R{k}'] = int((first < k).sum()) * 100.0 / num_valid
    results['mAP'] = float(ap.mean()) * 100.0
    results['mINP'] = float(inp.mean()) * 100.0
    return results
