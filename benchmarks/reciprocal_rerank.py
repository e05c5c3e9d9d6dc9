"""Speed of ``tbps.evaluation.functional.cross_modal_reciprocal`` against
TextReID's ``k_reciprocal`` double loop.

CUHK-PEDES test size: 6156 query and 3074 gallery features (256-d, unit
norm, 1000 identities with a shared direction each, so neighbour sets
overlap as in a trained model). The double loop (one Python set operation
per (query, gallery) pair, as TextReID) takes minutes at that size: it is
timed on the first ``--subset`` queries against the whole gallery and
scaled up by 6156 / subset (its cost is linear in the queries). The values
of the subset must be identical (max abs difference printed).

    python benchmarks/reciprocal_rerank.py [--subset 100] [--threads N]
"""
import argparse
import time

import torch
import torch.nn.functional as F

from tbps.evaluation.functional import cross_modal_reciprocal


def make_feats(num_queries=6156, num_gallery=3074, dim=256, num_ids=1000,
               seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_ids, dim, generator=g)
    gallery_pids = torch.randint(0, num_ids, (num_gallery, ), generator=g)
    query_pids = torch.randint(0, num_ids, (num_queries, ), generator=g)
    gallery = F.normalize(centres[gallery_pids]
                          + torch.randn(num_gallery, dim, generator=g), dim=1)
    query = F.normalize(centres[query_pids]
                        + 1.5 * torch.randn(num_queries, dim, generator=g),
                        dim=1)
    return query, gallery


def double_loop(query, gallery, k=5, alpha=0.05):
    """TextReID's re-ranking: top-k sets, then a Jaccard per pair."""
    sim = query @ gallery.t()
    top_q = sim.topk(k, dim=1).indices.tolist()
    top_g = (gallery @ gallery.t()).topk(k, dim=1).indices.tolist()
    jaccard = torch.zeros_like(sim)
    for q in range(sim.shape[0]):
        a = set(top_q[q])
        for g in range(sim.shape[1]):
            b = set(top_g[g])
            jaccard[q, g] = len(a & b) / len(a | b)
    return sim + alpha * jaccard


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--subset', type=int, default=100)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--threads', type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    query, gallery = make_feats()
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        fast = cross_modal_reciprocal(query, gallery)
        times.append(time.perf_counter() - start)
    fast_time = min(times)
    start = time.perf_counter()
    slow = double_loop(query[:args.subset], gallery)
    loop_time = (time.perf_counter() - start) * query.shape[0] / args.subset
    diff = (slow - fast[:args.subset]).abs().max().item()
    print(f'{query.shape[0]} queries x {gallery.shape[0]} gallery, k=5, '
          f'{torch.get_num_threads()} threads')
    print(f'double loop (scaled from {args.subset} queries): '
          f'{loop_time:.1f} s')
    print(f'tbps cross_modal_reciprocal (best of {args.repeat}): '
          f'{fast_time:.3f} s')
    print(f'speed-up: {loop_time / fast_time:.0f}x; max |difference| on '
          f'the subset: {diff:.2e}')


if __name__ == '__main__':
    main()
