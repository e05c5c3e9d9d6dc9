"""Exact top-k search of query features against a large gallery in
bounded memory, and an optional faiss index."""
from typing import Optional, Tuple

import torch


@torch.no_grad()
def chunked_topk(queries: torch.Tensor, gallery: torch.Tensor, k: int,
                 gallery_chunk: int = 65536, query_chunk: int = 1024
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` highest inner products of each query with the gallery.

    Never builds the [Q, G] matrix: queries are processed ``query_chunk``
    at a time against ``gallery_chunk`` gallery rows, keeping a running
    top-k, so memory is O(query_chunk x (gallery_chunk + k)) on top of the
    inputs. Exact: the scores equal a full sort's and the results are
    ordered by score, then gallery index; where several items tie at the
    k-th score within one chunk, which of them is kept is arbitrary (as
    with ``torch.topk``).

    Args:
        queries: [Q, D]; gallery: [G, D] (unit norm for cosine).
        k (int): Results per query (at most G).

    Returns:
        tuple: scores [Q, k] (descending) and gallery indices [Q, k].
    """
    num_gallery = gallery.shape[0]
    k = min(int(k), num_gallery)
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    scores_out, index_out = [], []
    for a in range(0, queries.shape[0], query_chunk):
        q = queries[a:a + query_chunk]
        parts_s, parts_i = [], []
        # one reused buffer: a fresh [q, chunk] tensor per chunk costs page
        # faults comparable to the product itself
        buffer = q.new_empty(q.shape[0], min(gallery_chunk, num_gallery))
        for start in range(0, num_gallery, gallery_chunk):
            block = gallery[start:start + gallery_chunk]
            sims = torch.mm(q, block.t(), out=buffer[:, :block.shape[0]])
            s, i = sims.topk(min(k, sims.shape[1]), dim=1)
            parts_s.append(s)
            parts_i.append(i + start)
        # One merge of every chunk's top-k: candidates in gallery-index
        # order, then a stable sort by score keeps the lower index first
        # among equal scores.
        cand_s, cand_i = torch.cat(parts_s, dim=1), torch.cat(parts_i, dim=1)
        order = torch.argsort(cand_i, dim=1, stable=True)
        cand_s, cand_i = cand_s.gather(1, order), cand_i.gather(1, order)
        top = torch.argsort(cand_s, dim=1, descending=True,
                            stable=True)[:, :k]
        scores_out.append(cand_s.gather(1, top))
        index_out.append(cand_i.gather(1, top))
    return torch.cat(scores_out), torch.cat(index_out)


class FaissIndex:
    """A faiss index of gallery features for inner-product search:
    ``'flat'`` is exact (``IndexFlatIP``); ``'ivf'`` (``IndexIVFFlat`` with
    ``nlist`` cells, ``nprobe`` searched) is approximate: faster on very
    large galleries, but a true top-k item can be missed."""

    def __init__(self, gallery: torch.Tensor, kind: str = 'flat',
                 nlist: int = 1024, nprobe: int = 16):
        try:
            import faiss
        except ImportError as err:
            raise ImportError('FaissIndex needs faiss: pip install '
                              'faiss-cpu (or faiss-gpu).') from err
        feats = gallery.detach().float().cpu().contiguous().numpy()
        dim = feats.shape[1]
        if kind == 'flat':
            index = faiss.IndexFlatIP(dim)
        elif kind == 'ivf':
            quantizer = faiss.IndexFlatIP(dim)
            index = faiss.IndexIVFFlat(quantizer, dim,
                                       min(nlist, len(feats)),
                                       faiss.METRIC_INNER_PRODUCT)
            index.train(feats)
            index.nprobe = nprobe
            self._quantizer = quantizer  # keep it alive with the index
        else:
            raise ValueError(f"kind must be 'flat' or 'ivf', got {kind!r}")
        index.add(feats)
        self.index, self.kind = index, kind

    def search(self, queries: torch.Tensor, k: int,
               ) -> Tuple[torch.Tensor, torch.Tensor]:
        """scores [Q, k], indices [Q, k] (-1 where fewer than k found)."""
        scores, index = self.index.search(
            queries.detach().float().cpu().contiguous().numpy(), int(k))
        return torch.from_numpy(scores), torch.from_numpy(index).long()


def topk_search(queries: torch.Tensor, gallery: torch.Tensor, k: int,
                index: Optional[FaissIndex] = None, **kwargs):
    """:func:`chunked_topk`, or ``index.search`` when a faiss index is
    given."""
    if index is not None:
        return index.search(queries, k)
    return chunked_topk(queries, gallery, k, **kwargs)
