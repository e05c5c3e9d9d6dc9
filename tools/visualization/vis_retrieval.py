"""Retrieval grids for captions of a dataset split::

    python tools/visualization/vis_retrieval.py CONFIG CHECKPOINT \\
        [--split test] [--queries 0 5 9] [--topk 10] [--out-dir vis/]

For each chosen caption (by index among the split's captions) the ranked
gallery photos with scores, true matches outlined in green. The pictures
go through mmengine's visualisation backends (``--backend local`` writes
PNGs under ``--out-dir``; ``tensorboard`` logs them).
"""
import argparse
import sys

from mmengine.config import Config, DictAction

from tbps.apis import TextPersonSearcher, init_model
from tbps.apis.searcher import split_gallery
from tbps.visualization import TBPSVisualizer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="weights, or 'none'")
    parser.add_argument('--split', default='test',
                        choices=('train', 'val', 'test'))
    parser.add_argument('--queries', type=int, nargs='+', default=[0])
    parser.add_argument('--topk', type=int, default=10)
    parser.add_argument('--out-dir', default='vis_retrieval')
    parser.add_argument('--backend', default='local',
                        choices=('local', 'tensorboard'))
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
    model = init_model(cfg, ckpt)
    paths, pids, queries = split_gallery(cfg, args.split)
    searcher = TextPersonSearcher(model, paths)
    backend = dict(type='LocalVisBackend' if args.backend == 'local'
                   else 'TensorboardVisBackend')
    vis = TBPSVisualizer.get_instance(
        'tbps_vis_retrieval', vis_backends=[backend],
        save_dir=args.out_dir)
    for q in args.queries:
        record = queries[q]
        results = searcher.search(record['caption'], topk=args.topk)
        true = {p for p, pid in zip(paths, pids) if pid == record['pid']}
        grid = vis.draw_retrieval(results, record['caption'], true)
        vis.add_image(f'{args.split}_query_{q}', grid)
        hits = sum(p in true for p, _ in results)
        print(f'query {q}: {hits} of {len(true)} matches in the top '
              f'{args.topk}: {record["caption"]}')
    print(f'pictures saved under {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
