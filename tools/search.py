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
import textwrap

from mmengine.config import DictAction

from tbps.apis import TextPersonSearcher, init_model

TILE = (96, 192)  # (W, H) of a photo in the grid


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


def split_gallery(cfg, split: str):
    """(image paths, their pids, query records) of a dataset split."""
    from tbps.registry import DATASETS
    loader = cfg.get(f'{split}_dataloader') or cfg.test_dataloader
    dataset = DATASETS.build(dict(loader.dataset, split=split,
                                  pipeline=[]))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    images = [r for r in infos if r['modality'] in ('image', 'pair')]
    seen, paths, pids = set(), [], []
    for r in images:
        if r['img_path'] not in seen:
            seen.add(r['img_path'])
            paths.append(r['img_path'])
            pids.append(int(r['pid']))
    queries = [r for r in infos if r['modality'] in ('text', 'pair')]
    return paths, pids, queries


def draw_grid(results, query: str, out: str, true_paths=None) -> None:
    """A PNG of the ranked photos with rank and score; the query as the
    title; true matches outlined in green (others in red) when known."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default()
    cols = min(len(results), 10) or 1
    rows = (len(results) + cols - 1) // cols
    title = textwrap.wrap(query, width=max(20, cols * 15))[:3]
    pad, caption_h, title_h = 6, 14, 14 * len(title) + 8
    width = cols * (TILE[0] + pad) + pad
    height = title_h + rows * (TILE[1] + caption_h + pad) + pad
    canvas = Image.new('RGB', (width, height), 'white')
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(title):
        draw.text((pad, 4 + 14 * i), line, fill='black', font=font)
    for rank, (path, score) in enumerate(results):
        r, c = divmod(rank, cols)
        x = pad + c * (TILE[0] + pad)
        y = title_h + r * (TILE[1] + caption_h + pad)
        try:
            photo = Image.open(path).convert('RGB').resize(TILE)
        except OSError:
            photo = Image.new('RGB', TILE, 'gray')
        canvas.paste(photo, (x, y))
        if true_paths is not None:
            color = (0, 170, 0) if path in true_paths else (200, 0, 0)
            draw.rectangle([x - 2, y - 2, x + TILE[0] + 1, y + TILE[1] + 1],
                           outline=color, width=3)
        draw.text((x, y + TILE[1] + 2), f'{rank + 1}: {score:.3f}',
                  fill='black', font=font)
    canvas.save(out)


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
