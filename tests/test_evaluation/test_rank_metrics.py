import math
import warnings

import numpy as np
import pytest
import torch

from tbps.evaluation.functional import positive_ranks, rank_metrics


def reference(sim, qpids, gpids, topk=(1, 5, 10)):
    """Slow pure-Python metrics: stable descending sort of each row."""
    sim = [[float(x) for x in row] for row in sim]
    qpids, gpids = [int(p) for p in qpids], [int(p) for p in gpids]
    hits = {k: 0 for k in topk}
    aps, inps, all_ranks = [], [], []
    for i, row in enumerate(sim):
        # sorted() is stable; the key also states the tie-break explicitly
        order = sorted(range(len(row)), key=lambda g: (-row[g], g))
        ranks = [r for r, g in enumerate(order) if gpids[g] == qpids[i]]
        all_ranks.append(ranks)
        if not ranks:
            continue
        for k in topk:
            hits[k] += ranks[0] < k
        aps.append(
            sum((m + 1) / (r + 1) for m, r in enumerate(ranks)) / len(ranks))
        inps.append(len(ranks) / (ranks[-1] + 1))
    num = len(aps)
    res = {f'R{k}': 100.0 * hits[k] / num for k in topk}
    res['mAP'] = 100.0 * sum(aps) / num
    res['mINP'] = 100.0 * sum(inps) / num
    return res, all_ranks


def assert_matches_reference(sim, qpids, gpids, topk=(1, 5, 10), **kw):
    expected, expected_ranks = reference(sim, qpids, gpids, topk)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        got = rank_metrics(sim, qpids, gpids, topk=topk, **kw)
    assert list(got) == list(expected)
    for key, value in expected.items():
        assert isinstance(got[key], float)
        assert got[key] == pytest.approx(value, abs=1e-9), key
    ranks, offsets = positive_ranks(sim, qpids, gpids, **kw)
    offsets = offsets.tolist()
    for i, exp in enumerate(expected_ranks):
        assert ranks[offsets[i]:offsets[i + 1]].tolist() == exp, i
    return got


def random_case(num_q, num_g, num_ids, seed, decimals=None):
    g = torch.Generator().manual_seed(seed)
    sim = torch.randn(num_q, num_g, generator=g)
    if decimals is not None:
        sim = torch.round(sim * 10**decimals) / 10**decimals
    qpids = torch.randint(0, num_ids, (num_q, ), generator=g)
    gpids = torch.randint(0, num_ids, (num_g, ), generator=g)
    return sim, qpids, gpids


@pytest.mark.parametrize('shape', [(1, 1), (3, 7), (37, 50), (90, 260)])
@pytest.mark.parametrize('decimals', [None, 1, 0])
@pytest.mark.parametrize('chunk_size', [None, 1, 8])
def test_random_matches_reference(shape, decimals, chunk_size):
    num_q, num_g = shape
    sim, qpids, gpids = random_case(num_q,
                                    num_g,
                                    max(1, num_g // 3),
                                    seed=num_q + num_g,
                                    decimals=decimals)
    qpids[0] = gpids[0]  # at least one query with a positive
    assert_matches_reference(sim, qpids, gpids, chunk_size=chunk_size)


def test_many_positives_use_sort_path_and_match():
    # two identities over 300 items: ~150 positives per query, which takes
    # the argsort route; mixed with a few queries of a rare identity
    sim, qpids, gpids = random_case(40, 300, 2, seed=3, decimals=1)
    gpids[:3] = 7
    qpids[:5] = 7
    assert_matches_reference(sim, qpids, gpids, chunk_size=6)


def test_all_scores_equal():
    sim = torch.zeros(6, 10)
    qpids = torch.tensor([0, 1, 2, 0, 1, 2])
    gpids = torch.tensor([2, 1, 0, 0, 1, 2, 2, 1, 0, 0])
    assert_matches_reference(sim, qpids, gpids)


@pytest.mark.parametrize('dtype',
                         [torch.float32, torch.float64, torch.float16])
def test_special_values(dtype):
    vals = torch.tensor([
        -math.inf, math.inf, 0.0, -0.0, 1e-45, -1e-45, 1e-39, 1.0, -1.0,
        3.4e38, -3.4e38, 1.1754944e-38
    ])
    g = torch.Generator().manual_seed(0)
    sim = vals[torch.randint(0, len(vals), (30, 40), generator=g)].to(dtype)
    qpids = torch.randint(0, 5, (30, ), generator=g)
    gpids = torch.randint(0, 5, (40, ), generator=g)
    assert_matches_reference(sim, qpids, gpids, chunk_size=4)


def test_flush_denormal_mode():
    sim, qpids, gpids = random_case(30, 40, 5, seed=1, decimals=0)
    sim[:, ::3] = 0.0
    sim[:, 1::7] = -0.0
    if not torch.set_flush_denormal(True):
        pytest.skip('flush-denormal mode not supported on this CPU')
    try:
        assert_matches_reference(sim, qpids, gpids)
    finally:
        torch.set_flush_denormal(False)


def test_integer_similarity():
    sim, qpids, gpids = random_case(20, 30, 6, seed=2, decimals=0)
    assert_matches_reference(sim.long(), qpids, gpids)


def test_hand_computed():
    # query 0 (pid 1): ranking 0,1,2,3; positives at ranks 1 and 3
    #   AP = (1/2 + 2/4) / 2 = 0.5, INP = 2/4, no hit@1, hit@5
    # query 1 (pid 3): top-1 is its only positive: AP = INP = 1, hit@1
    sim = torch.tensor([[0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.9, 0.3]])
    qpids = torch.tensor([1, 3])
    gpids = torch.tensor([2, 1, 3, 1])
    res = rank_metrics(sim, qpids, gpids, topk=(1, 2, 5))
    assert res == {
        'R1': 50.0,
        'R2': 100.0,
        'R5': 100.0,
        'mAP': 75.0,
        'mINP': 75.0
    }


def test_hand_computed_ties():
    # all scores tie: ranking is gallery order 0,1,2,3; pid 2 sits at 1, 3
    sim = torch.full((1, 4), 0.5)
    res = rank_metrics(sim,
                       torch.tensor([2]),
                       torch.tensor([1, 2, 1, 2]),
                       topk=(1, 2))
    assert res == {'R1': 0.0, 'R2': 100.0, 'mAP': 50.0, 'mINP': 50.0}
    # a tie with a lower-index negative ranks the positive second
    sim = torch.tensor([[0.3, 0.7, 0.7, 0.1]])
    res = rank_metrics(sim,
                       torch.tensor([5]),
                       torch.tensor([0, 0, 5, 0]),
                       topk=1)
    assert res == {'R1': 0.0, 'mAP': 50.0, 'mINP': 50.0}
    # ... and a tie with a higher-index negative does not
    res = rank_metrics(sim,
                       torch.tensor([5]),
                       torch.tensor([0, 5, 0, 0]),
                       topk=1)
    assert res == {'R1': 100.0, 'mAP': 100.0, 'mINP': 100.0}


def test_topk_larger_than_gallery():
    sim, qpids, gpids = random_case(12, 5, 2, seed=4)
    qpids[:] = gpids[0]
    res = assert_matches_reference(sim, qpids, gpids, topk=(1, 5, 10, 100))
    assert res['R10'] == res['R100'] == res['R5'] == 100.0
    assert list(rank_metrics(sim, qpids, gpids,
                             topk=3)) == ['R3', 'mAP', 'mINP']


def test_default_keys():
    sim, qpids, gpids = random_case(10, 8, 2, seed=5)
    qpids[:] = gpids[0]
    assert list(rank_metrics(sim, qpids,
                             gpids)) == ['R1', 'R5', 'R10', 'mAP', 'mINP']


def test_numpy_input():
    sim, qpids, gpids = random_case(25, 30, 6, seed=6, decimals=1)
    qpids[0] = gpids[0]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        expected = rank_metrics(sim, qpids, gpids)
        got = rank_metrics(sim.numpy(),
                           qpids.numpy().astype(np.int32), gpids.numpy())
        got_lists = rank_metrics(sim.tolist(), qpids.tolist(), gpids.tolist())
    assert got == expected == got_lists


def test_queries_without_positives_are_excluded():
    sim, qpids, gpids = random_case(30, 40, 6, seed=7)
    gpids[gpids == 5] = 4  # pid 5 has no gallery item
    qpids[::4] = 5
    valid = qpids != 5
    num_missing = int((~valid).sum())
    assert 8 <= num_missing < 30
    with pytest.warns(UserWarning,
                      match=f'{num_missing} of 30 queries have no gallery'):
        res = rank_metrics(sim, qpids, gpids)
    assert res == rank_metrics(sim[valid], qpids[valid], gpids)
    assert_matches_reference(sim, qpids, gpids)
    ranks, offsets = positive_ranks(sim, qpids, gpids)
    assert ((offsets[1:] - offsets[:-1])[~valid] == 0).all()


def test_no_query_has_positives():
    with pytest.raises(ValueError, match='none of the 3 queries'):
        rank_metrics(torch.rand(3, 4), torch.tensor([7, 8, 9]),
                     torch.tensor([0, 1, 2, 3]))


def test_input_errors():
    sim = torch.rand(3, 4)
    qp, gp = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2, 3])
    with pytest.raises(ValueError, match='2-D'):
        rank_metrics(torch.rand(4), qp, gp)
    with pytest.raises(ValueError, match='query_pids has 2 entries'):
        rank_metrics(sim, qp[:2], gp)
    with pytest.raises(ValueError, match='gallery_pids has 3 entries'):
        rank_metrics(sim, qp, gp[:3])
    with pytest.raises(ValueError, match='query_pids has 4 entries'):
        rank_metrics(sim, gp, qp)  # swapped pid arguments
    with pytest.raises(ValueError, match='query_pids must be 1-D'):
        rank_metrics(sim, qp[:, None], gp)
    with pytest.raises(TypeError, match='integers'):
        rank_metrics(sim, qp.float(), gp)
    with pytest.raises(ValueError, match='at least one'):
        rank_metrics(torch.rand(0, 4), qp[:0], gp)
    with pytest.raises(ValueError, match='topk'):
        rank_metrics(sim, qp, gp, topk=(1, 0))
    with pytest.raises(ValueError, match='topk'):
        rank_metrics(sim, qp, gp, topk=())
    with pytest.raises(ValueError, match='chunk_size'):
        rank_metrics(sim, qp, gp, chunk_size=0)
    bad = sim.clone()
    bad[1, 2] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        rank_metrics(bad, qp, gp)


def test_opposite_infinities_are_not_nan():
    sim = torch.tensor([[math.inf, -math.inf, 0.5], [0.1, 0.2, 0.3]])
    res = rank_metrics(sim,
                       torch.tensor([1, 2]),
                       torch.tensor([0, 1, 2]),
                       topk=1)
    # query 0: pid 1 at -inf ranks last (3rd); query 1: top-1
    assert res == {
        'R1': 50.0,
        'mAP': 100.0 * (1 / 3 + 1) / 2,
        'mINP': 100.0 * (1 / 3 + 1) / 2
    }


def test_large_matrix_small_chunks_is_bounded_and_exact():
    # many queries, a chunk of 16 rows: the result must not depend on it
    sim, qpids, gpids = random_case(700, 300, 100, seed=8, decimals=2)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)
        a = rank_metrics(sim, qpids, gpids, chunk_size=16)
        b = rank_metrics(sim, qpids, gpids)
    assert a == b
    ranks_a, off_a = positive_ranks(sim, qpids, gpids, chunk_size=16)
    order = torch.argsort(sim, dim=1, descending=True, stable=True)
    match = gpids[order] == qpids[:, None]
    assert torch.equal(ranks_a, torch.nonzero(match)[:, 1])
