"""Does BidirAtt's phrase-guided attention point at the phrase on SynthPEDES?

SynthPEDES garments are drawn in a few far-apart colours
(:data:`tbps.datasets.synth.attributes.COLORS`), so a colour phrase such as
"a purple jacket" has a pixel-level answer: the patches of that colour.
For every caption of the chosen split, each noun phrase with exactly one
garment colour word (by default one of the saturated colours, which
backgrounds, hair and skin do not share) is fed to the fusion encoder with that word masked (the
MPM input of LAIP) together with the caption's image; the forward,
backward and bidirectional patch weights of the configured cross-attention
layer (:class:`~tbps.models.heads.BidirAttentionPooling`) are compared
with the fraction ``f_i`` of each patch's pixels whose nearest garment
colour is the phrase's (within ``--max-dist`` in RGB):

* ``mass``   sum_i w_i f_i, the share of attention on the colour;
* ``lift``   mass / mean_i f_i (1 = no better than uniform weights);
* ``hit``    how often the highest-weight patch is mostly that colour
  (f >= 0.25), against ``chance``, the share of such patches.

    python tools/analysis_tools/synth_phrase_pointing.py \\
        configs/laip/laip_synth.py work_dirs/laip_synth/best_R1_epoch_18.pth
"""
import argparse
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config, DictAction
from mmengine.runner import load_checkpoint
from PIL import Image

from tbps.datasets.phrases import PhraseParser
from tbps.datasets.synth.attributes import COLORS
from tbps.models.maskers import PhraseMasker
from tbps.registry import DATASETS, MODELS
from tbps.utils import register_all_modules
from tbps.visualization.attention import patch_weights

#: Caption spellings of garment colours.
COLOR_WORDS = dict({name: name for name in COLORS}, grey='gray')
#: Colours that backgrounds, hair and skin do not share (the default).
SATURATED = ('red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink')
MODES = ('forward', 'backward', 'bidirectional')


def color_fractions(image: np.ndarray, color: str, grid: Tuple[int, int],
                    max_dist: float = 80.0) -> np.ndarray:
    """[H, W, 3] uint8 RGB image -> [gh * gw] share of each patch's pixels
    whose nearest garment colour is ``color`` (and closer than
    ``max_dist``), patches in row-major order."""
    names = list(COLORS)
    palette = np.array([COLORS[n] for n in names], dtype=np.float32)
    dist = np.linalg.norm(image[:, :, None, :].astype(np.float32) - palette,
                          axis=-1)
    nearest = dist.argmin(-1)
    is_color = (nearest == names.index(color)) & (dist.min(-1) < max_dist)
    gh, gw = grid
    h, w = is_color.shape
    if h % gh or w % gw:
        raise ValueError(f'a {h}x{w} image does not split into a {gh}x{gw} '
                         'patch grid')
    blocks = is_color.reshape(gh, h // gh, gw, w // gw)
    return blocks.mean(axis=(1, 3)).reshape(-1)


def color_phrases(phrases: List[str], colors: Sequence[str] = SATURATED
                  ) -> List[Tuple[str, int, str]]:
    """(phrase, index of its colour word, colour) for phrases with exactly
    one garment colour word, that colour being one of ``colors``."""
    out = []
    for phrase in phrases:
        words = phrase.split()
        hits = [j for j, w in enumerate(words) if w.lower() in COLOR_WORDS]
        if len(hits) == 1:
            color = COLOR_WORDS[words[hits[0]].lower()]
            if color in colors:
                out.append((phrase, hits[0], color))
    return out


def evaluate(model, dataset, parser, layer: int, grid: Tuple[int, int],
             limit: Optional[int] = None, max_dist: float = 80.0,
             colors: Sequence[str] = SATURATED) -> dict:
    pre = model.data_preprocessor
    masker = PhraseMasker(pre.tokenizer)  # always the mask token
    sums = {}
    base = dict(uniform=0.0, chance=0.0)
    records = (dataset.get_data_info(i) for i in range(len(dataset)))
    queries = [r for r in records if r['modality'] == 'text']
    phrases = parser.parse_many([r['caption'] for r in queries])
    count = 0
    for record, caption_phrases in zip(queries, phrases):
        items = color_phrases(caption_phrases, colors)
        if not items:
            continue
        rgb = np.asarray(Image.open(record['gallery_img_path'])
                         .convert('RGB'))
        packed = dataset.pipeline(dict(img_path=record['gallery_img_path']))
        image = pre.normalize_images(packed['inputs'][None])
        for phrase, word, color in items:
            frac = torch.from_numpy(color_fractions(rgb, color, grid,
                                                    max_dist))
            if frac.sum() == 0:  # colour not visible (occluded, lighting)
                continue
            enc = masker.mask_words([phrase], [word])
            weights = patch_weights(model, image, enc['masked_ids'],
                                    enc['attention_mask'], enc['labels'],
                                    layer)
            for mode, w in weights.items():
                sums.setdefault(mode, dict(mass=0.0, lift=0.0, hit=0.0))
                w = w.detach().float()
                mass = float((w * frac).sum())
                sums[mode]['mass'] += mass
                sums[mode]['lift'] += mass / float(frac.mean())
                sums[mode]['hit'] += float(frac[w.argmax()] >= 0.25)
            base['uniform'] += float(frac.mean())
            base['chance'] += float((frac >= 0.25).float().mean())
            count += 1
            if limit and count >= limit:
                break
        if limit and count >= limit:
            break
    if not count:
        raise ValueError('no caption phrase with a visible garment colour')
    result = {m: {k: v / count for k, v in sums[m].items()}
              for m in MODES if m in sums}
    result.update({k: v / count for k, v in base.items()}, phrases=count)
    return result


def format_result(result: dict) -> str:
    lines = [f"{result['phrases']} colour phrases; uniform weights put "
             f"{result['uniform']:.3f} of their mass on the colour; "
             f"{result['chance']:.3f} of the patches are at least a quarter "
             'that colour', '| weights | mass | lift | hit |', '|---|---|---|---|']
    for mode in (m for m in MODES if m in result):
        r = result[mode]
        lines.append(f"| {mode} | {r['mass']:.3f} | {r['lift']:.2f} | "
                     f"{r['hit']:.3f} |")
    return '\n'.join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', default='val', choices=('val', 'test'))
    parser.add_argument('--layer', type=int, default=None,
                        help='fusion layer (default: the config\'s '
                        'heads.mlm.attention_layer)')
    parser.add_argument('--limit', type=int, default=None,
                        help='stop after this many phrases')
    parser.add_argument('--max-dist', type=float, default=80.0)
    parser.add_argument('--colors', nargs='+', default=list(SATURATED),
                        choices=sorted(COLORS),
                        help='garment colours whose phrases are used')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config keys, e.g. '
                        'val_dataloader.dataset.data_root=...')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    layer = args.layer
    if layer is None:
        layer = (cfg.model.get('heads', {}).get('mlm') or {}).get(
            'attention_layer')
    if layer is None:
        raise SystemExit(f'{args.config} has no model.heads.mlm.'
                         'attention_layer; pass --layer')
    if cfg.model.get('type') != 'FusionRetriever':
        raise SystemExit(f'{args.config}: needs a FusionRetriever model')
    model = MODELS.build(cfg.model)
    load_checkpoint(model, args.checkpoint, map_location='cpu',
                    logger='silent')
    model.eval()
    data_cfg = cfg.get(f'{args.split}_dataloader').dataset
    data_cfg = dict(data_cfg, split=args.split)
    dataset = DATASETS.build(data_cfg)
    grid = tuple(model.image_encoder.patch_grid)
    result = evaluate(model, dataset, PhraseParser(), layer, grid,
                      args.limit, args.max_dist, args.colors)
    print(f'{args.checkpoint} ({args.split}, fusion layer {layer})')
    print(format_result(result))
    return result


if __name__ == '__main__':
    main()
