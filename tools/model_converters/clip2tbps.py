"""Convert an OpenAI CLIP (ViT) checkpoint to a tbps ``DualEncoderRetriever``
one (CLIPVisionEncoder + CLIPTextEncoder + projection necks).

Examples::

    # download OpenAI's ViT-B/16 (sha256 checked) and convert for 384x128
    python tools/model_converters/clip2tbps.py
    # the same, explicitly, checked against a config's model
    python tools/model_converters/clip2tbps.py ViT-B/16 \
        checkpoints/clip_vit_b16_openai_tbps.pth \
        --img-size 384 128 --config configs/clip/clip_cuhk.py
    # a file downloaded by hand (TorchScript archive or state dict)
    python tools/model_converters/clip2tbps.py ~/.cache/clip/ViT-B-16.pt \
        checkpoints/clip_vit_b16_openai_tbps.pth

SRC is an OpenAI model name (``ViT-B/32``, ``ViT-B/16``, ``ViT-L/14``), a
model-zoo name (``clip_vit-b16_openai``), an http(s) URL or a local file.
URLs are downloaded once into tbps's cache (``$TBPS_HOME/checkpoints``) and
checked against the sha256 that OpenAI's URLs carry in their path (or
``--sha256``); a cached file with the wrong hash is downloaded again.
OpenAI's files are TorchScript archives (read with ``torch.jit.load(..., map_location='cpu').state_dict()``); plain
state dicts (open_clip / ``torch.save``) work too. Weights are stored in
float32 and the image position embedding is resized to ``--img-size``
(default: the ``--config``'s image size, else 384x128). The output
``{'state_dict', 'meta'}`` is written atomically and loads with ``load_from``
(the CLIP configs use ``checkpoints/clip_vit_b16_openai_tbps.pth``) or
mmengine's ``load_checkpoint``. See :mod:`tbps.converters.clip`
for the key mapping.
"""
import argparse
import sys

import torch

from tbps.converters.clip import (OPENAI_CLIP_URLS, convert_clip_state_dict,
                                  format_clip_report, load_openai_clip)
from tbps.converters.utils import (build_config_model, compare_with_model,
                                   resolve_source)
from tbps.utils.fileio import sha256_of, torch_save_atomic

DEFAULT_SRC = 'ViT-B/16'
DEFAULT_DST = 'checkpoints/clip_vit_b16_openai_tbps.pth'
DEFAULT_IMG_SIZE = (384, 128)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an OpenAI CLIP ViT checkpoint to tbps '
        '(DualEncoderRetriever).')
    parser.add_argument(
        'src', nargs='?', default=DEFAULT_SRC,
        help=f'OpenAI model name ({", ".join(OPENAI_CLIP_URLS)}), zoo '
        f'name, http(s) URL or local file (default {DEFAULT_SRC})')
    parser.add_argument('dst', nargs='?', default=DEFAULT_DST,
                        help=f'output file (default {DEFAULT_DST})')
    parser.add_argument('--sha256', help='expected sha256 (or a prefix) of '
                        'a downloaded file; default: the one in the URL')
    parser.add_argument('--img-size', type=int, nargs=2, metavar=('H', 'W'),
                        help='target image size for the position embedding '
                        '(default: the config\'s, else 384 128)')
    parser.add_argument('--config', help='tbps config whose model the '
                        'result is checked against (and whose image size '
                        'is the default target)')
    parser.add_argument(
        '--proj-bias', action=argparse.BooleanOptionalAction, default=True,
        help='write zero biases for image_proj/text_proj (the default '
        'LinearProjection has a bias); --no-proj-bias for bias=False necks')
    parser.add_argument('--trust', action='store_true',
                        help='fully unpickle SRC if weights_only loading '
                        'refuses it (only for files you trust)')
    parser.add_argument('--keep-dtype', action='store_true',
                        help='keep the source dtype (OpenAI: float16) '
                        'instead of float32')
    return parser.parse_args(argv)


def convert(src: str = DEFAULT_SRC, dst: str = DEFAULT_DST, img_size=None,
            config: str = None, sha256: str = None, proj_bias: bool = True,
            keep_dtype: bool = False, log=print,
            trust: bool = False) -> dict:
    """Convert ``src`` into ``dst``; returns the report (with ``config``,
    also ``comparison``). Raises before writing if the config model
    rejects the result (shape mismatches)."""
    path, _ = resolve_source(src, sha256, log,
                                   aliases=OPENAI_CLIP_URLS)
    model = None
    if config is not None:
        try:
            cfg, model = build_config_model(config)
        except Exception as err:  # e.g. a dataset-free build failing
            log(f'WARNING: could not build the model of {config} to check '
                f'the keys: {type(err).__name__}: {err}')
        else:
            if img_size is None:
                img_size = cfg.model.get('image_encoder', {}).get('img_size')
    if img_size is None:
        img_size = DEFAULT_IMG_SIZE
    checkpoint, kind = load_openai_clip(path, trusted=trust)
    state_dict, report = convert_clip_state_dict(
        checkpoint, img_size=img_size, proj_bias=proj_bias,
        dtype=None if keep_dtype else torch.float32)
    report['source_format'] = kind
    comparison = None
    if model is not None:
        comparison = compare_with_model(state_dict, model)
        report['comparison'] = comparison
    log(f'source: {src} ({kind})')
    log(format_clip_report(report, comparison))
    if comparison is not None and comparison['errors']:
        raise ValueError(f'The converted weights do not fit the model of '
                         f'{config}; nothing written to {dst}.')
    # Loss parameters (the temperature) come from the config by design.
    uncovered = [k for k in (comparison or {}).get('missing', [])
                 if not k.startswith('losses.')]
    if uncovered:
        log(f'WARNING: {len(uncovered)} parameter(s) of the config model are '
            'not in the checkpoint and keep their initialisation.')
    meta = dict(
        source=src,
        source_sha256=sha256_of(path),
        source_format=kind,
        converter='tools/model_converters/clip2tbps.py',
        img_size=tuple(int(s) for s in img_size),
        patch_grid=report['dst_grid'],
        source_patch_grid=report['src_grid'],
        embed_dim=report['embed_dim'],
        temperature=report['temperature'],
        proj_bias=proj_bias,
        dropped={k: len(v) for k, v in report['dropped'].items()},
        unmapped=list(report['unmapped']),
    )
    torch_save_atomic(dict(state_dict=state_dict, meta=meta), dst)
    log(f'saved {len(state_dict)} tensors to {dst}')
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    convert(args.src, args.dst, img_size=args.img_size, config=args.config,
            sha256=args.sha256, proj_bias=args.proj_bias,
            keep_dtype=args.keep_dtype, trust=args.trust)
    return 0


if __name__ == '__main__':
    sys.exit(main())
