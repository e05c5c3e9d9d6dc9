"""Convert an official ALBEF checkpoint to a tbps ``FusionRetriever`` one.

Example::

    python tools/model_converters/albef2tbps.py \
        https://storage.googleapis.com/sfr-pcl-data-research/ALBEF/mscoco.pth \
        checkpoints/albef_mscoco_tbps.pth --config configs/albef/albef_cuhk.py

SRC is a local file or an http(s) URL (downloaded once into torch hub's
cache, ``$TORCH_HOME/hub/checkpoints``). Both of ALBEF's layouts are
accepted: pre-training (ALBEF.pth, ALBEF_4M.pth; ``text_encoder.bert.*`` and
an MLM head) and retrieval fine-tuning (mscoco.pth, flickr30k.pth;
``text_encoder.*``), saved as ``{'model': state_dict, ...}`` or bare. The
output is ``{'state_dict', 'meta'}``, loadable by mmengine's
``load_checkpoint`` and by ``load_from`` in a config (the ALBEF/LAIP configs
use ``checkpoints/albef_mscoco_tbps.pth``). The ViT position embedding keeps
ALBEF's square grid; mmpretrain's VisionTransformer resizes it to the
model's grid (24x8 at 384x128) when the checkpoint is loaded. The ITC
queues are not converted (they are rebuilt empty). See
:mod:`tbps.models.utils.albef_convert` for the key mapping.
"""
import argparse
import hashlib
import os
import os.path as osp
import pickle
import sys

import torch

from tbps.utils.fileio import atomic_open
from tbps.models.utils.albef_convert import (compare_with_model,
                                             convert_albef_state_dict,
                                             format_report,
                                             unwrap_albef_checkpoint)

DEFAULT_DST = 'checkpoints/albef_mscoco_tbps.pth'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an ALBEF checkpoint to tbps (FusionRetriever).')
    parser.add_argument('src', help='ALBEF checkpoint: path or http(s) URL')
    parser.add_argument('dst', nargs='?', default=DEFAULT_DST,
                        help=f'output file (default {DEFAULT_DST})')
    parser.add_argument(
        '--momentum', action=argparse.BooleanOptionalAction, default=True,
        help='keep ALBEF\'s momentum encoders as momentum.module.* '
        '(momentum.steps=1); --no-momentum drops them and the momentum '
        'model starts as a copy of the online one')
    parser.add_argument(
        '--config', help='tbps config whose model the result is checked '
        'against (missing / unexpected keys, shape mismatches)')
    return parser.parse_args(argv)


def is_url(src: str) -> bool:
    return src.startswith(('http://', 'https://'))


def load_source(src: str):
    """The checkpoint object at ``src``. URLs go through torch hub's cache
    and are unpickled with ``weights_only=True``; local files are the
    user's own and are loaded fully (as tbps loads local checkpoints)."""
    if is_url(src):
        try:
            return torch.hub.load_state_dict_from_url(
                src, map_location='cpu', progress=True, check_hash=False,
                weights_only=True)
        except pickle.UnpicklingError as err:
            raise RuntimeError(
                f'{src} holds objects that torch will not unpickle from a '
                'download (weights_only=True). Download the file yourself '
                'and pass its local path if you trust it.') from err
    if not osp.isfile(src):
        raise FileNotFoundError(f'ALBEF checkpoint {src!r} not found.')
    return torch.load(src, map_location='cpu', weights_only=False)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def cached_path(src: str):
    """Local file the source was read from (the hub cache for URLs)."""
    if not is_url(src):
        return src
    from urllib.parse import urlparse
    name = osp.basename(urlparse(src).path)
    path = osp.join(torch.hub.get_dir(), 'checkpoints', name)
    return path if osp.isfile(path) else None


def save_atomic(obj, dst: str) -> None:
    """``torch.save`` to ``dst`` atomically: a failure never leaves a partial
    ``dst`` (an old one stays intact)."""
    with atomic_open(dst, 'wb') as f:
        torch.save(obj, f)


def check_config(state_dict, config: str) -> dict:
    """Missing / unexpected keys of ``state_dict`` against the model of a
    tbps config (built on CPU, default init)."""
    from mmengine.config import Config

    from tbps.registry import MODELS
    from tbps.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(config)
    model = MODELS.build(cfg.model)
    return compare_with_model(state_dict, model)


def convert(src: str, dst: str, momentum: bool = True,
            config: str = None, log=print) -> dict:
    """Convert ``src`` into ``dst``; returns the report (with ``config``,
    also ``comparison``). Raises before writing if the config model
    rejects the result (shape mismatches)."""
    checkpoint = load_source(src)
    state_dict, report = convert_albef_state_dict(
        unwrap_albef_checkpoint(checkpoint), momentum=momentum)
    comparison = None
    if config is not None:
        try:
            comparison = check_config(state_dict, config)
        except Exception as err:  # e.g. a tokenizer not in the HF cache
            log(f'WARNING: could not build the model of {config} to check '
                f'the keys: {type(err).__name__}: {err}')
        else:
            report['comparison'] = comparison
    log(format_report(report, comparison))
    if comparison is not None and any('word_embeddings' in e for e in
                                      comparison['errors']):
        log('HINT: the vocabulary of the config\'s tokenizer differs from '
            'the checkpoint\'s; is its BERT vocabulary (e.g. '
            'bert-base-uncased) available offline?')
    if comparison is not None and comparison['errors']:
        raise ValueError(f'The converted weights do not fit the model of '
                         f'{config}; nothing written to {dst}.')
    local = cached_path(src)
    meta = dict(
        source=src,
        source_sha256=sha256_of(local) if local else None,
        converter='tools/model_converters/albef2tbps.py',
        albef_layout=report['layout'],
        albef_epoch=(checkpoint.get('epoch') if isinstance(
            checkpoint.get('epoch'), int) else None),
        momentum=report['momentum'],
        temperature=report['temperature'],
        dropped={k: len(v) for k, v in report['dropped'].items()},
        unmapped=list(report['unmapped']),
    )
    save_atomic(dict(state_dict=state_dict, meta=meta), dst)
    log(f'saved {len(state_dict)} tensors to {dst}')
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    convert(args.src, args.dst, momentum=args.momentum, config=args.config)
    return 0


if __name__ == '__main__':
    sys.exit(main())
