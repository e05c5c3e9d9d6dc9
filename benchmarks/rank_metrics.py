"""Speed of ``tbps.evaluation.functional.rank_metrics`` against baselines.

A CUHK-PEDES-sized test split: 1000 identities, 3074 gallery images (about
3 per identity, at least 1), 6156 query captions (about 2 per image), and a
random similarity matrix with a mild same-identity signal. Two matrices are
timed: continuous scores (almost no ties) and the same scores rounded to one
decimal (massive ties, where the stable tie-break matters).

Baselines:

* ``loop``: full ``torch.argsort(stable=True)`` of the matrix, then a Python
  loop over the queries for R@k, AP and INP (the reference semantics);
* ``vectorised``: the same argsort, then cumulative-sum formulas over the
  whole ``[Q, G]`` match matrix (the usual re-id evaluation code).

Every method must give exactly the same positive ranks as the stable
argsort, and the same metrics (up to float summation order, < 1e-9).

    python benchmarks/rank_metrics.py [--device cuda] [--repeat 5] \
        [--threads N]

Times are the best of ``--repeat`` runs (half as many for the slow
baselines); on a shared machine compare the ratios, not the times. On an
oversubscribed CPU (load above the core count) many small parallel kernels
suffer more than one big sort: ``--threads 1`` then gives the steadier
ratio.
"""
import argparse
import os
import time

import torch

from tbps.evaluation.functional import positive_ranks, rank_metrics

TOPK = (1, 5, 10)


def make_split(num_ids=1000, num_gallery=3074, num_queries=6156, seed=0):
    g = torch.Generator().manual_seed(seed)
    # at least one image per id, the rest spread at random
    extra = torch.randint(0, num_ids, (num_gallery - num_ids, ), generator=g)
    gallery_pids = torch.cat([torch.arange(num_ids), extra])
    gallery_pids = gallery_pids[torch.randperm(num_gallery, generator=g)]
    # two captions per image, the remainder on random images
    per_image = num_queries // num_gallery
    rest = torch.randint(0,
                         num_gallery,
                         (num_queries - per_image * num_gallery, ),
                         generator=g)
    query_img = torch.cat(
        [torch.arange(num_gallery).repeat_interleave(per_image), rest])
    query_pids = gallery_pids[query_img[torch.randperm(num_queries,
                                                       generator=g)]]
    sim = torch.randn(num_queries, num_gallery, generator=g) * 0.1
    sim += 0.15 * (query_pids[:, None] == gallery_pids[None, :]).float()
    return sim, query_pids, gallery_pids


def argsort_ranks(sim):
    return torch.argsort(sim, dim=1, descending=True, stable=True)


def baseline_loop(sim, query_pids, gallery_pids, topk=TOPK):
    """Stable argsort of the whole matrix + a Python loop over queries."""
    order = argsort_ranks(sim)
    matches = gallery_pids[order] == query_pids[:, None]
    hits = {k: 0 for k in topk}
    aps, inps, ranks = [], [], []
    for i in range(sim.shape[0]):
        r = torch.nonzero(matches[i]).squeeze(1)
        ranks.append(r)
        if r.numel() == 0:
            continue
        n = r.numel()
        for k in topk:
            hits[k] += int(r[0] < k)
        aps.append(
            float((torch.arange(1, n + 1, device=r.device).double() /
                   (r + 1).double()).sum()) / n)
        inps.append(n / (int(r[-1]) + 1))
    num = len(aps)
    res = {f'R{k}': hits[k] * 100.0 / num for k in topk}
    res['mAP'] = float(torch.tensor(aps, dtype=torch.float64).mean()) * 100
    res['mINP'] = float(torch.tensor(inps, dtype=torch.float64).mean()) * 100
    return res, ranks


def baseline_vectorised(sim, query_pids, gallery_pids, topk=TOPK):
    """Stable argsort of the whole matrix + cumsum formulas over [Q, G]."""
    order = argsort_ranks(sim)
    matches = gallery_pids[order] == query_pids[:, None]
    num_pos = matches.sum(1)
    valid = num_pos > 0
    matches, num_pos = matches[valid], num_pos[valid].double()
    res = {
        f'R{k}': float(matches[:, :k].any(1).double().mean()) * 100
        for k in topk
    }
    cum = matches.cumsum(1).double()
    pos = torch.arange(1, matches.shape[1] + 1, device=sim.device).double()
    ap = (cum / pos * matches).sum(1) / num_pos
    last = matches.shape[1] - 1 - matches.flip(1).int().argmax(1)
    res['mAP'] = float(ap.mean()) * 100
    res['mINP'] = float((num_pos / (last + 1).double()).mean()) * 100
    return res


def timeit(fn, repeat, sync):
    best = float('inf')
    for _ in range(repeat):
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best, out


def check_same(a, b, what):
    assert a.keys() == b.keys(), (what, a.keys(), b.keys())
    for k in a:
        assert abs(a[k] - b[k]) < 1e-9, (what, k, a[k], b[k])


def run(name, sim, qp, gp, repeat, sync):
    t_fast, res = timeit(lambda: rank_metrics(sim, qp, gp, TOPK), repeat, sync)
    t_loop, (res_loop, ref_ranks) = timeit(lambda: baseline_loop(sim, qp, gp),
                                           max(1, repeat // 2), sync)
    t_vec, res_vec = timeit(lambda: baseline_vectorised(sim, qp, gp),
                            max(1, repeat // 2), sync)
    t_sort, _ = timeit(lambda: argsort_ranks(sim), max(1, repeat // 2), sync)
    # identical ranks, query by query
    ranks, offsets = positive_ranks(sim, qp, gp)
    offsets = offsets.tolist()
    for i, r in enumerate(ref_ranks):
        assert torch.equal(ranks[offsets[i]:offsets[i + 1]], r), i
    check_same(res, res_loop, 'loop')
    check_same(res, res_vec, 'vectorised')
    bitwise = res == res_loop
    print(f'\n[{name}] {sim.shape[0]} x {sim.shape[1]}, '
          f'{len(torch.unique(sim.flatten()[:1_000_000]))} distinct values '
          f'in the first 1M scores')
    print('  ' + ', '.join(f'{k} {v:.3f}' for k, v in res.items()))
    print(f'  ranks identical to stable argsort: yes; metrics equal to the '
          f'loop baseline: {"bitwise" if bitwise else "within 1e-9"}')
    print(f'  rank_metrics                 {t_fast * 1e3:8.1f} ms')
    print(f'  baseline argsort + loop      {t_loop * 1e3:8.1f} ms   '
          f'ratio {t_loop / t_fast:5.1f}x')
    print(f'  baseline argsort + cumsum    {t_vec * 1e3:8.1f} ms   '
          f'ratio {t_vec / t_fast:5.1f}x')
    print(f'  (argsort alone               {t_sort * 1e3:8.1f} ms   '
          f'ratio {t_sort / t_fast:5.1f}x)')
    return t_loop / t_fast


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--threads',
                        type=int,
                        default=None,
                        help='torch CPU threads (default: torch default)')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    sync = (torch.cuda.synchronize if device.type == 'cuda' else
            (lambda: None))
    sim, qp, gp = make_split()
    sim, qp, gp = sim.to(device), qp.to(device), gp.to(device)
    load = (', load average %.1f' %
            os.getloadavg()[0] if hasattr(os, 'getloadavg') else '')
    print(f'torch {torch.__version__}, device {device}, '
          f'{torch.get_num_threads()} CPU threads, {os.cpu_count()} CPUs'
          f'{load}')
    counts = torch.bincount(gp)
    print(f'gallery images per id: mean {counts.float().mean():.2f}, '
          f'max {int(counts.max())}')
    ratio = run('continuous scores', sim, qp, gp, args.repeat, sync)
    tie_ratio = run('scores rounded to 1 decimal',
                    torch.round(sim * 10) / 10, qp, gp, args.repeat, sync)
    print(f'\nspeed-up vs argsort + loop: {ratio:.1f}x (continuous), '
          f'{tie_ratio:.1f}x (tie-heavy); goal >= 3x')


if __name__ == '__main__':
    main()
