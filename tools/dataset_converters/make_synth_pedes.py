"""Generate SynthPEDES and optionally save a grid of samples, or
(``--preset mals``) a MALS-format pre-training corpus of other people.

Examples::

    python tools/dataset_converters/make_synth_pedes.py \
        --out-dir data/synth_pedes --seed 0 --grid docs/synth_pedes_samples.png
    python tools/dataset_converters/make_synth_pedes.py --preset mals \
        [--out-dir data/synth_mals] [--num-ids 2000] [--views-per-id 2]

The MALS preset writes ``gene_attrs/synth_mals.json`` (MALS's fields:
image, caption, image_id, 27-value label; one caption per image) and
``gene_crop/synth/*.jpg``; its people differ in at least two described
factors from every identity of the SynthPEDES given by ``--seed``,
``--num-{train,val,test}-ids`` and ``--near-duplicate-share`` (default:
the one the ``*_synth`` configs use), and from each other. The corpus
itself is drawn with ``--mals-seed``.
"""
import argparse
import json
import os
import os.path as osp
import sys
import textwrap
import time

from PIL import Image, ImageDraw, ImageFont


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--preset', choices=('synth_pedes', 'mals'),
                   default='synth_pedes')
    p.add_argument('--out-dir', default=None,
                   help='default data/synth_pedes (data/synth_mals for '
                   '--preset mals)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--num-train-ids', type=int, default=500)
    p.add_argument('--num-val-ids', type=int, default=100)
    p.add_argument('--num-test-ids', type=int, default=100)
    p.add_argument('--num-ids', type=int, default=2000,
                   help='--preset mals: people in the corpus')
    p.add_argument('--mals-seed', type=int, default=0,
                   help='--preset mals: seed of the corpus')
    p.add_argument('--views-per-id', type=int, default=None,
                   help='images per identity (default 4; 2 for --preset '
                   'mals)')
    p.add_argument('--captions-per-image', type=int, default=2)
    p.add_argument('--image-size', type=int, nargs=2, default=(128, 64),
                   metavar=('H', 'W'))
    p.add_argument('--near-duplicate-share', type=float, default=0.35)
    p.add_argument('--image-format', choices=('jpg', 'png'), default='jpg')
    p.add_argument('--workers', type=int, default=None,
                   help='rendering processes (default: available CPUs)')
    p.add_argument('--overwrite', action='store_true',
                   help='replace an existing dataset in --out-dir')
    p.add_argument('--grid', default=None, metavar='PNG',
                   help='also save a sample grid to this file')
    p.add_argument('--grid-rows', type=int, default=6,
                   help='identities in the grid (a near-duplicate pair '
                   'comes first)')
    return p.parse_args(argv)


def _font(size=11):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


PAIR_PREFERENCE = ('upper_color', 'bag', 'hat', 'lower_color', 'sleeve')


def _pick_rows(identities, n_rows):
    """Near-duplicate pairs first (one per kind of difference, up to half
    the rows), then single identities, all from the train split."""
    train = [i for i in identities if i['split'] == 'train']
    by_pid = {i['pid']: i for i in train}
    pairs = {}
    for ident in train:
        partner = ident['near_duplicate_of']
        if partner is not None and ident['pid'] < partner:
            pairs.setdefault(ident['differs_in'], (ident, by_pid[partner]))
    kinds = [k for k in PAIR_PREFERENCE if k in pairs] + \
        sorted(k for k in pairs if k not in PAIR_PREFERENCE)
    rows = []
    for kind in kinds[:max(1, n_rows // 3)]:
        rows += list(pairs[kind])
    singles = [i for i in train if i['near_duplicate_of'] is None]
    return rows + singles[:max(0, n_rows - len(rows))]


def save_grid(data_root, path, n_rows=6, max_views=4, text_width=440):
    """Rows of identities x views with the captions of the first view."""
    with open(osp.join(data_root, 'reid_raw.json'), encoding='utf-8') as f:
        records = json.load(f)
    with open(osp.join(data_root, 'identities.json'), encoding='utf-8') as f:
        identities = json.load(f)
    by_pid = {}
    for r in records:
        by_pid.setdefault(r['id'], []).append(r)
    rows = _pick_rows(identities, n_rows)
    first = Image.open(osp.join(data_root, 'imgs',
                                by_pid[rows[0]['pid']][0]['file_path']))
    w, h = first.size
    views = min(max_views, len(by_pid[rows[0]['pid']]))
    pad, font = 6, _font()
    row_h = h + pad
    grid = Image.new('RGB', (views * (w + 2) + text_width + pad,
                             len(rows) * row_h + pad), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    chars = max(20, text_width // 6)
    for r, ident in enumerate(rows):
        y = pad + r * row_h
        recs = by_pid[ident['pid']][:views]
        for v, rec in enumerate(recs):
            img = Image.open(osp.join(data_root, 'imgs', rec['file_path']))
            grid.paste(img.convert('RGB'), (v * (w + 2), y))
        head = f'pid {ident["pid"]}'
        if ident['near_duplicate_of'] is not None:
            head += (f'  near-duplicate of pid {ident["near_duplicate_of"]}'
                     f' (differs in {ident["differs_in"]})')
            if r % 2 == 0 and r + 1 < len(rows) and \
                    rows[r + 1]['pid'] == ident['near_duplicate_of']:
                draw.rectangle([0, y - 3, views * (w + 2) - 2,
                                y + 2 * row_h - pad + 2], outline=(220, 0, 0),
                               width=2)
        lines = [head]
        for cap in recs[0]['captions']:
            lines += textwrap.wrap(cap, chars)
        x = views * (w + 2) + pad
        line_h = max(10, (h - 4) // max(len(lines), 1))
        line_h = min(line_h, 13)
        for k, line in enumerate(lines):
            draw.text((x, y + k * line_h), line,
                      fill=(200, 0, 0) if k == 0 else (0, 0, 0), font=font)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    # A 256-colour palette keeps the PNG small without visible loss here.
    grid.quantize(256, method=Image.Quantize.MEDIANCUT, dither=0).save(
        path, optimize=True)
    return path


def main_mals(args):
    from tbps.datasets.synth import make_synth_mals
    out_dir = args.out_dir or 'data/synth_mals'
    start = time.time()
    make_synth_mals(
        out_dir, seed=args.mals_seed, num_ids=args.num_ids,
        views_per_id=args.views_per_id or 2, image_size=args.image_size,
        exclude_synth_pedes=dict(
            seed=args.seed, num_train_ids=args.num_train_ids,
            num_val_ids=args.num_val_ids, num_test_ids=args.num_test_ids,
            near_duplicate_share=args.near_duplicate_share),
        num_workers=args.workers, image_format=args.image_format,
        overwrite=args.overwrite)
    with open(osp.join(out_dir, 'meta.json'), encoding='utf-8') as f:
        stats = json.load(f)['stats']
    print(f'Generated {out_dir} in {time.time() - start:.1f} s: '
          f'{stats["ids"]} people, {stats["images"]} images (MALS format)')


def main(argv=None):
    args = parse_args(argv)
    if args.preset == 'mals':
        return main_mals(args)
    args.out_dir = args.out_dir or 'data/synth_pedes'
    args.views_per_id = args.views_per_id or 4
    from tbps.datasets.synth import make_synth_pedes
    cfg = dict(seed=args.seed, num_train_ids=args.num_train_ids,
               num_val_ids=args.num_val_ids, num_test_ids=args.num_test_ids,
               views_per_id=args.views_per_id,
               captions_per_image=args.captions_per_image,
               image_size=list(args.image_size),
               near_duplicate_share=args.near_duplicate_share,
               image_format=args.image_format)
    meta_file = osp.join(args.out_dir, 'meta.json')
    if osp.isfile(meta_file) and not args.overwrite:
        with open(meta_file, encoding='utf-8') as f:
            existing = json.load(f).get('generate_cfg')
        if existing != cfg:
            sys.exit(f'{args.out_dir} holds SynthPEDES generated with '
                     f'{existing}, not {cfg}; pass --overwrite to replace it.')
        print(f'{args.out_dir} already holds this SynthPEDES; not '
              'regenerating.')
    else:
        start = time.time()
        make_synth_pedes(args.out_dir, num_workers=args.workers,
                         overwrite=args.overwrite, **cfg)
        with open(meta_file, encoding='utf-8') as f:
            stats = json.load(f)['stats']
        print(f'Generated {args.out_dir} in {time.time() - start:.1f} s')
        for split in ('train', 'val', 'test'):
            print(f'  {split}: {stats[split]}')
        print(f'  near-duplicates differ in: {stats["differs_in"]}')
        print(f'  vocabulary: {stats["vocab_size"]} words')
    if args.grid:
        save_grid(args.out_dir, args.grid, n_rows=args.grid_rows)
        print(f'Saved {args.grid} ({osp.getsize(args.grid) / 1024:.0f} KB)')


if __name__ == '__main__':
    main()
