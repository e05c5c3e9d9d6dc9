"""Bounded-memory top-k search against a full-matrix sort."""
import pytest
import torch
import torch.nn.functional as F

from tbps.evaluation.functional import FaissIndex, chunked_topk


def naive(queries, gallery, k):
    sims = queries @ gallery.t()
    order = torch.argsort(sims, dim=1, descending=True, stable=True)[:, :k]
    return sims.gather(1, order), order


@pytest.mark.parametrize('chunk', [7, 64, 10000])
def test_equals_full_sort(chunk):
    g = torch.Generator().manual_seed(0)
    gallery = F.normalize(torch.randn(1000, 16, generator=g), dim=1)
    queries = F.normalize(torch.randn(37, 16, generator=g), dim=1)
    scores, index = chunked_topk(queries, gallery, 10, gallery_chunk=chunk,
                                 query_chunk=8)
    ref_scores, ref_index = naive(queries, gallery, 10)
    assert torch.equal(index, ref_index)
    assert torch.allclose(scores, ref_scores)


def test_ties_ordered_by_gallery_index():
    gallery = torch.tensor([[1.0], [2.0], [2.0], [0.5], [2.0], [1.0]])
    queries = torch.tensor([[1.0]])
    scores, index = chunked_topk(queries, gallery, 4, gallery_chunk=2)
    assert index.tolist() == [[1, 2, 4, 0]]
    assert scores.tolist() == [[2.0, 2.0, 2.0, 1.0]]
    # k larger than the gallery is clamped
    assert chunked_topk(queries, gallery, 50)[1].shape == (1, 6)
    with pytest.raises(ValueError, match='k must be'):
        chunked_topk(queries, gallery, 0)


def test_faiss_flat_is_exact_and_ivf_close():
    pytest.importorskip('faiss')
    g = torch.Generator().manual_seed(1)
    gallery = F.normalize(torch.randn(2000, 32, generator=g), dim=1)
    queries = F.normalize(torch.randn(20, 32, generator=g), dim=1)
    ref_scores, ref_index = naive(queries, gallery, 5)
    scores, index = FaissIndex(gallery, 'flat').search(queries, 5)
    assert torch.equal(index, ref_index)
    assert torch.allclose(scores, ref_scores, atol=1e-5)
    ivf = FaissIndex(gallery, 'ivf', nlist=16, nprobe=16)  # all cells
    assert torch.equal(ivf.search(queries, 5)[1], ref_index)
    with pytest.raises(ValueError, match='flat'):
        FaissIndex(gallery, 'hnsw')
