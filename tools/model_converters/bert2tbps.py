"""Convert a Hugging Face BERT checkpoint to the initialisation of tbps's
fusion models (text encoder, fusion encoder, MLM head).

Example (APTM's pre-training, ``configs/aptm/aptm_mals_pretrain.py``)::

    python tools/model_converters/bert2tbps.py bert-base-uncased \\
        checkpoints/bert_base_uncased_tbps.pth --text-layers 6

SRC is a ``model.safetensors`` / ``pytorch_model.bin`` file, a folder
holding one, an http(s) URL, a model-zoo name or a Hugging Face model name
(read from transformers' cache; downloaded unless ``HF_HUB_OFFLINE=1``).
Layers ``0..K-1`` (``--text-layers``) go to ``text_encoder.bert``, the rest
to ``fusion_encoder`` (whose cross-attention is not in BERT and keeps the
model's initialisation), ``cls.predictions`` to ``heads.mlm.predictor``.
With ``--config`` the result is checked against that config's model
(nothing is written on a shape mismatch). The output ``{'state_dict',
'meta'}`` is written atomically; configs load it with ``init_cfg=dict(
type='Pretrained', checkpoint=DST)``. See :mod:`tbps.converters.bert`.
"""
import argparse
import sys

from tbps.converters.bert import (compare_with_bert_targets,
                                  convert_bert_state_dict, format_report,
                                  load_bert_checkpoint, resolve_bert_source)
from tbps.converters.utils import build_config_model
from tbps.utils.fileio import sha256_of, torch_save_atomic

DEFAULT_DST = 'checkpoints/bert_base_uncased_tbps.pth'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert a Hugging Face BERT checkpoint to tbps (text '
        'encoder, fusion encoder, MLM head).')
    parser.add_argument('src', help='BERT weights: file, folder, http(s) '
                        'URL, model-zoo or Hugging Face model name')
    parser.add_argument('dst', nargs='?', default=DEFAULT_DST,
                        help=f'output file (default {DEFAULT_DST})')
    parser.add_argument('--text-layers', type=int, default=6,
                        help='layers 0..K-1 initialise the text encoder, '
                        'the rest the fusion encoder (default 6)')
    parser.add_argument('--config', help='tbps config whose model the '
                        'result is checked against')
    parser.add_argument('--trust', action='store_true',
                        help='fully unpickle SRC if weights_only loading '
                        'refuses it (only for files you trust)')
    return parser.parse_args(argv)


def convert(src: str, dst: str = DEFAULT_DST, text_layers: int = 6,
            config: str = None, log=print, trust: bool = False) -> dict:
    """Convert ``src`` into ``dst``; returns the report (with ``config``,
    also ``comparison``). Raises before writing if the config's model
    rejects the result (shape mismatches)."""
    path, _ = resolve_bert_source(src, log=log)
    state_dict, report = convert_bert_state_dict(
        load_bert_checkpoint(path, trust=trust), text_layers=text_layers)
    comparison = None
    if config is not None:
        try:
            model = build_config_model(config)[1]
        except Exception as err:  # e.g. a tokenizer not in the HF cache
            log(f'WARNING: could not build the model of {config} to check '
                f'the keys: {type(err).__name__}: {err}')
        else:
            comparison = compare_with_bert_targets(state_dict, model)
            report['comparison'] = comparison
    log(format_report(report, comparison))
    if comparison is not None and comparison['errors']:
        raise ValueError(f'The converted weights do not fit the model of '
                         f'{config}; nothing written to {dst}.')
    meta = dict(
        source=src, source_sha256=sha256_of(path),
        converter='tools/model_converters/bert2tbps.py',
        bert_layout=report['layout'],
        text_layers=report['text_layers'],
        fusion_layers=report['fusion_layers'],
        mlm_head=report['mlm_head'],
        derived=list(report['derived']),
        not_in_bert=len(report['not_in_bert']),
        dropped={k: len(v) for k, v in report['dropped'].items()},
        unmapped=list(report['unmapped']))
    torch_save_atomic(dict(state_dict=state_dict, meta=meta), dst)
    log(f'saved {len(state_dict)} tensors to {dst}')
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    convert(args.src, args.dst, text_layers=args.text_layers,
            config=args.config, trust=args.trust)
    return 0


if __name__ == '__main__':
    sys.exit(main())
