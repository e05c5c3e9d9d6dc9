"""Search photos by sentence and draw the ranked results::

    python tools/search.py CONFIG CHECKPOINT --gallery DIR --query "..." \\
        [--topk 10] [--out result.png] [--json result.json]
    # a dataset split as the gallery; a caption of it as the query, with
    # its true matches outlined
    python tools/search.py CONFIG CHECKPOINT --split test --query-index 0

CHECKPOINT is a local file, an http(s) URL or a model-zoo name (any format
``tbps.apis.init_model`` converts). The gallery's features are saved in
``--index-file`` (default ``<gallery>/.tbps_index_<config>.pth``) and reused
on the next run.
"""
import argparse
import json
import os.path as osp
import sys

from mmengine.config import DictAction

from tbps.apis import TextPersonSearcher, init_model
from tbps.apis.searcher import split_gallery



def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Rank a gallery of photos for a sentence.')
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="weights (path, URL, zoo name) "
                        "or 'none' for the config's initialisation")
    parser.add_argument('--gallery', help='folder of photos (recursive)')
    parser.add_argument('--split', choices=('train', 'val', 'test'),
                        help="the config's dataset split as the gallery")
    parser.add_argument('--query', help='the sentence')
    parser.add_argument('--query-index', type=int,
                        help='with --split: caption N of the split as query')
    parser.add_argument('--topk', type=int, default=10)
    parser.add_argument('--out', help='PNG grid of the ranked photos')
    parser.add_argument('--json', help='ranked paths and scores as JSON')
    parser.add_argument('--index-file', help='where gallery features are '
                        'saved and reused')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--faiss', choices=('flat', 'ivf'),
                        help='search with a faiss index (ivf: approximate)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys')
    args = parser.parse_args(argv)
    if bool(args.gallery) == bool(args.split):
        parser.error('give exactly one of --gallery and --split')
    if args.query is None and args.query_index is None:
        parser.error('give --query (or --query-index with --split)')
    if args.query_index is not None and not args.split:
        parser.error('--query-index needs --split')
    return args


def draw_grid(results, query: str, out: str, true_paths=None) -> None:
    """Save :meth:`TBPSVisualizer.draw_retrieval`'s grid as a PNG."""
    from PIL import Image

    from tbps.visualization import TBPSVisualizer
    grid = TBPSVisualizer.get_instance('tbps_search').draw_retrieval(
        results, query, true_paths)
    Image.fromarray(grid).save(out)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    checkpoint = None if args.checkpoint.lower() == 'none' else \
        args.checkpoint
    if checkpoint and not osp.exists(checkpoint) and \
            not checkpoint.startswith(('http://', 'https://')):
        from tbps.apis.model_zoo import weights_of
        checkpoint = weights_of(checkpoint)
    model = init_model(cfg, checkpoint, device=args.device)
    true_paths, query = None, args.query
    if args.split:
        paths, pids, queries = split_gallery(cfg, args.split)
        gallery = paths
        if args.query_index is not None:
            record = queries[args.query_index]
            query = record['caption']
            true_paths = {p for p, pid in zip(paths, pids)
                          if pid == int(record['pid'])}
        name = f'{args.split}'
        root = osp.dirname(paths[0]) if paths else '.'
    else:
        gallery = root = args.gallery
        name = 'gallery'
    index_file = args.index_file or osp.join(
        root, f'.tbps_index_{osp.splitext(osp.basename(args.config))[0]}'
        f'_{name}.pth')
    searcher = TextPersonSearcher(model, gallery, index_file=index_file,
                                  batch_size=args.batch_size,
                                  faiss=args.faiss)
    results = searcher.search(query, topk=args.topk)
    print(f'query: {query}')
    for rank, (path, score) in enumerate(results, 1):
        mark = '' if true_paths is None else (
            '  (match)' if path in true_paths else '')
        print(f'{rank:3d}  {score:8.4f}  {path}{mark}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(query=query, results=[
                dict(path=p, score=s) for p, s in results],
                true_matches=sorted(true_paths) if true_paths else None),
                f, indent=2)
    if args.out:
        draw_grid(results, query, args.out, true_paths)
        print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
