"""Where a fusion model (ALBEF, LAIP) looks for a phrase::

    python tools/visualization/vis_attention.py CONFIG CHECKPOINT \\
        --image IMG --phrase "a red coat" [--word 2] [--layer 1] \\
        --out attention.png

Draws the image and, at one fusion layer (default: LAIP's BidirAtt layer),
the phrase's forward attention ([CLS] over the patches) and, for models
with a masked-token head (LAIP), the backward (gradient of the masked
word's score) and bidirectional maps side by side (LAIP Eqs. 4-7).
"""
import argparse
import sys

import numpy as np
from mmengine.config import Config, DictAction
from mmengine.dataset import Compose, pseudo_collate
from PIL import Image

from tbps.apis import init_model
from tbps.visualization import TBPSVisualizer, phrase_attention


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="weights, or 'none'")
    parser.add_argument('--image', required=True)
    parser.add_argument('--phrase', required=True)
    parser.add_argument('--word', type=int, default=None,
                        help='index of the masked word in the phrase '
                        '(default: its last word)')
    parser.add_argument('--layer', type=int, default=None)
    parser.add_argument('--out', default='attention.png')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
    model = init_model(cfg, ckpt)
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
    data = model.data_preprocessor(pseudo_collate([pipeline(dict(
        img_path=args.image, modality='image', pid=-1, sample_idx=0))]),
        False)
    maps, grid = phrase_attention(model, data['inputs']['images'],
                                  args.phrase, word=args.word,
                                  layer=args.layer)
    rgb = np.asarray(Image.open(args.image).convert('RGB'))
    masked = args.phrase.split()[
        args.word if args.word is not None else -1]
    picture = TBPSVisualizer.get_instance('tbps_vis_attention')\
        .draw_attention(rgb, {k: v.numpy() for k, v in maps.items()},
                        title=f'"{args.phrase}" (masked: {masked})')
    Image.fromarray(picture).save(args.out)
    print(f'{grid[0]}x{grid[1]} patches, maps: {", ".join(maps)}; '
          f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
