"""Cross-modal k-reciprocal re-ranking: equal to TextReID's double loop,
and switchable on any method's evaluator."""
import pytest
import torch
import torch.nn.functional as F

from tbps.evaluation.functional import (cross_modal_reciprocal,
                                        reciprocal_jaccard)
from tbps.registry import METRICS


def double_loop(query, gallery, k, alpha):
    """TextReID's k_reciprocal: a Python loop over every (q, g) pair."""
    sim = query @ gallery.t()
    neighbours = gallery @ gallery.t()
    top_q = [set(row.topk(k).indices.tolist()) for row in sim]
    top_g = [set(row.topk(k).indices.tolist()) for row in neighbours]
    out = sim.clone()
    for q in range(sim.shape[0]):
        for g in range(sim.shape[1]):
            jaccard = len(top_q[q] & top_g[g]) / len(top_q[q] | top_g[g])
            out[q, g] = sim[q, g] + alpha * jaccard
    return out


def feats(num, dim=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(num, dim, generator=gen), dim=1)


@pytest.mark.parametrize('k', [1, 5, 9])
def test_equals_the_double_loop(k):
    query, gallery = feats(70, seed=1), feats(40, seed=2)
    expected = double_loop(query, gallery, k, 0.05)
    got = cross_modal_reciprocal(query, gallery, k=k, alpha=0.05)
    assert got.shape == (70, 40)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert not torch.equal(got, query @ gallery.t())  # it did something


def test_jaccard_pairs_are_exact_sets():
    # A_0 = {0, 1}; B_0 = {0, 1} (J 1), B_1 = {1, 2} (1/3), B_2 = {2, 3} (0)
    rows, cols, jaccard = reciprocal_jaccard(
        torch.tensor([[0, 1]]), torch.tensor([[0, 1], [1, 2], [2, 3],
                                              [3, 0]]))
    got = {(int(r), int(c)): float(j) for r, c, j in zip(rows, cols,
                                                           jaccard)}
    assert got == pytest.approx({(0, 0): 1.0, (0, 1): 1 / 3, (0, 3): 1 / 3})


def test_k_must_fit_the_gallery():
    with pytest.raises(ValueError, match='k must be in 1..4'):
        cross_modal_reciprocal(feats(3), feats(4), k=5)


def _samples(query, query_pids, gallery, gallery_pids):
    samples = [dict(modality='image', image_feat=f, pid=p, sample_idx=i)
               for i, (f, p) in enumerate(zip(gallery, gallery_pids))]
    samples += [dict(modality='text', text_feat=f, pid=p, sample_idx=i)
                for i, (f, p) in enumerate(zip(query, query_pids))]
    return samples


def test_metric_option_ranks_by_the_reranked_similarity():
    # Gallery: identities 0..7, two views each; queries are noisy.
    gen = torch.Generator().manual_seed(0)
    centres = F.normalize(torch.randn(8, 16, generator=gen), dim=1)
    gallery = F.normalize(centres.repeat_interleave(2, 0)
                          + 0.3 * torch.randn(16, 16, generator=gen), dim=1)
    gallery_pids = torch.arange(8).repeat_interleave(2).tolist()
    query = F.normalize(centres + 0.9 * torch.randn(8, 16, generator=gen),
                        dim=1)
    query_pids = list(range(8))
    results = []
    for reciprocal in (None, dict(k=3, alpha=0.5)):
        metric = METRICS.build(dict(type='TextToImageRetrievalMetric',
                                    reciprocal=reciprocal))
        metric.process({}, _samples(query, query_pids, gallery,
                                    gallery_pids))
        results.append(metric.compute_metrics(metric.results))
    from tbps.evaluation.functional import rank_metrics
    expected = rank_metrics(
        cross_modal_reciprocal(query, gallery, k=3, alpha=0.5),
        torch.tensor(query_pids), torch.tensor(gallery_pids))
    assert results[1] == pytest.approx(expected)
    assert results[0] != results[1]


def test_metric_refuses_unknown_keys():
    with pytest.raises(ValueError, match='unknown keys'):
        METRICS.build(dict(type='TextToImageRetrievalMetric',
                           reciprocal=dict(k=5, beta=1)))
