"""Convert an official ALBEF checkpoint to a tbps ``FusionRetriever`` one.

Example::

    python tools/model_converters/albef2tbps.py \
        https://storage.googleapis.com/sfr-pcl-data-research/ALBEF/mscoco.pth \
        checkpoints/albef_mscoco_tbps.pth --config configs/albef/albef_cuhk.py

SRC is a local file, an http(s) URL or a model-zoo name such as
``albef_vit-b16_coco-retrieval`` (downloaded once into tbps's cache,
``$TBPS_HOME/checkpoints``). Both of ALBEF's layouts are
accepted: pre-training (ALBEF.pth, ALBEF_4M.pth; ``text_encoder.bert.*`` and
an MLM head) and retrieval fine-tuning (mscoco.pth, flickr30k.pth;
``text_encoder.*``), saved as ``{'model': state_dict, ...}`` or bare. The
output is ``{'state_dict', 'meta'}``, loadable by mmengine's
``load_checkpoint`` and by ``load_from`` in a config (the ALBEF/LAIP configs
use ``checkpoints/albef_mscoco_tbps.pth``). The ViT position embedding keeps
ALBEF's square grid; mmpretrain's VisionTransformer resizes it to the
model's grid (24x8 at 384x128) when the checkpoint is loaded. The ITC
queues are not converted (they are rebuilt empty). See
:mod:`tbps.converters.albef` for the key mapping.
"""
import argparse
import sys


from tbps.converters.albef import (convert_albef_state_dict,
                                             format_report,
                                             unwrap_albef_checkpoint)
from tbps.converters.utils import (build_config_model, compare_with_model,
                                   load_source_checkpoint, resolve_source)
from tbps.utils.fileio import sha256_of, torch_save_atomic

DEFAULT_DST = 'checkpoints/albef_mscoco_tbps.pth'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an ALBEF checkpoint to tbps (FusionRetriever).')
    parser.add_argument('src', help='ALBEF checkpoint: path, http(s) URL '
                        'or model-zoo name')
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
    parser.add_argument('--trust', action='store_true',
                        help='fully unpickle SRC if weights_only loading '
                        'refuses it (only for files you trust)')
    return parser.parse_args(argv)


def load_source(src: str, log=print, trust: bool = False):
    """``(checkpoint, local path)`` for ``src``: a zoo name or URL is
    downloaded once into tbps's cache (ALBEF's URLs carry no hash); the
    file is read with ``weights_only=True`` unless ``trust``."""
    path, _ = resolve_source(src, log=log)
    return load_source_checkpoint(path, trust=trust), path


def check_config(state_dict, config: str) -> dict:
    """Missing / unexpected keys of ``state_dict`` against the model of a
    tbps config (built on CPU, default init)."""
    return compare_with_model(state_dict, build_config_model(config)[1])


def convert(src: str, dst: str, momentum: bool = True,
            config: str = None, log=print, trust: bool = False) -> dict:
    """Convert ``src`` into ``dst``; returns the report (with ``config``,
    also ``comparison``). Raises before writing if the config model
    rejects the result (shape mismatches)."""
    checkpoint, local = load_source(src, log, trust=trust)
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
    meta = dict(
        source=src,
        source_sha256=sha256_of(local),
        converter='tools/model_converters/albef2tbps.py',
        albef_layout=report['layout'],
        albef_epoch=(checkpoint.get('epoch') if isinstance(
            checkpoint.get('epoch'), int) else None),
        momentum=report['momentum'],
        temperature=report['temperature'],
        dropped={k: len(v) for k, v in report['dropped'].items()},
        unmapped=list(report['unmapped']),
    )
    torch_save_atomic(dict(state_dict=state_dict, meta=meta), dst)
    log(f'saved {len(state_dict)} tensors to {dst}')
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    convert(args.src, args.dst, momentum=args.momentum, config=args.config,
            trust=args.trust)
    return 0


if __name__ == '__main__':
    sys.exit(main())
