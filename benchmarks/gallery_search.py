"""Top-k search over a large gallery: tbps's chunked exact search vs the
naive full-matrix top-k, in the same run, each in a fresh process for its
peak memory::

    python benchmarks/gallery_search.py [--queries 1000] [--gallery 1000000]
        [--dim 256] [--topk 10] [--threads N]

Random unit features (seed 0). Prints time and peak resident memory of
both, their ratio, and whether the results are identical (goal: identical,
tbps <= 2 GB peak and faster).
"""
import argparse
import json
import resource
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


def features(args):
    """Unit features, normalised in place (one gallery copy in memory)."""
    g = torch.Generator().manual_seed(0)
    gallery = torch.randn(args.gallery, args.dim, generator=g)
    gallery /= gallery.norm(dim=1, keepdim=True)
    queries = F.normalize(torch.randn(args.queries, args.dim, generator=g),
                          dim=1)
    return queries, gallery


def run_child(args) -> None:
    torch.set_num_threads(args.threads)
    queries, gallery = features(args)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if args.method == 'naive':
        scores, index = (queries @ gallery.t()).topk(args.topk, dim=1)
    else:
        from tbps.evaluation.functional import chunked_topk
        scores, index = chunked_topk(queries, gallery, args.topk)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print('RESULT ' + json.dumps(dict(
        seconds=seconds, peak_mb=peak, inputs_mb=before,
        index=index.tolist(),
        scores=scores.tolist())))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--queries', type=int, default=1000)
    parser.add_argument('--gallery', type=int, default=1000000)
    parser.add_argument('--dim', type=int, default=256)
    parser.add_argument('--topk', type=int, default=10)
    parser.add_argument('--threads', type=int,
                        default=torch.get_num_threads())
    parser.add_argument('--method', choices=('naive', 'tbps'),
                        help=argparse.SUPPRESS)  # one child run
    args = parser.parse_args()
    if args.method:
        return run_child(args)
    results = {}
    for method in ('naive', 'tbps'):
        out = subprocess.run(
            [sys.executable, __file__, '--method', method] + sys.argv[1:],
            capture_output=True, text=True, check=True).stdout
        line = next(ln for ln in out.splitlines() if ln.startswith('RESULT'))
        results[method] = json.loads(line[len('RESULT '):])
    naive, tbps = results['naive'], results['tbps']
    same = naive['index'] == tbps['index']
    print(f'{args.queries} queries x {args.gallery} gallery features '
          f'({args.dim}-d), top-{args.topk}, {args.threads} threads')
    for name, r in (('naive full matrix', naive), ('tbps chunked', tbps)):
        print(f"  {name:18s} {r['seconds']:8.2f} s   peak "
              f"{r['peak_mb']:8.0f} MB (inputs loaded: "
              f"{r['inputs_mb']:.0f} MB)")
    print(f"  time tbps / naive: {tbps['seconds'] / naive['seconds']:.2f}x; "
          f"peak memory tbps / naive: {tbps['peak_mb'] / naive['peak_mb']:.2f}"
          f"x; results {'identical' if same else 'DIFFER'}")


if __name__ == '__main__':
    main()
