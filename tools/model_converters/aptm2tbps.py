"""Convert an APTM checkpoint (Shuyu-XJTU/APTM's ``checkpoint_best.pth``)
to tbps (FusionRetriever of ``configs/_base_/models/aptm_swin_b_bert.py``).

Usage::

    python tools/model_converters/aptm2tbps.py checkpoints/aptm_cuhk.pth \\
        checkpoints/aptm_cuhk_tbps.pth [--config CONFIG]

SRC is a local file, an http(s) URL or a model-zoo name (the authors
release their files on Google Drive / Baidu Yun, without direct URLs).
With ``--config`` the result is checked against that config's model
(missing / unexpected keys, shape mismatches; nothing is written on a
mismatch). The output ``{'state_dict', 'meta'}`` is written atomically and
loads with ``load_from`` or ``tools/test.py CONFIG DST``. See
:mod:`tbps.converters.aptm` for the key mapping.
"""
import argparse
import sys

from tbps.converters.aptm import convert_aptm_state_dict, format_report
from tbps.converters.utils import (build_config_model, compare_with_model,
                                   load_source_checkpoint, resolve_source)
from tbps.utils.fileio import sha256_of, torch_save_atomic

#: Plain settings of APTM's own config kept in the output's meta.
CONFIG_KEYS = ('image_res', 'h', 'w', 'embed_dim', 'temp', 'mlm', 'eda',
               'max_tokens')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an APTM checkpoint to tbps (FusionRetriever).')
    parser.add_argument('src', help='APTM checkpoint: path, http(s) URL or '
                        'model-zoo name')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--config', help='tbps config whose model the '
                        'result is checked against')
    parser.add_argument('--trust', action='store_true',
                        help='fully unpickle SRC if weights_only loading '
                        'refuses it (only for files you trust)')
    return parser.parse_args(argv)


def convert(src: str, dst: str, config: str = None, log=print,
            trust: bool = False) -> dict:
    """Convert ``src`` into ``dst``; returns the report (with ``config``,
    also ``comparison``). Raises before writing if the config's model
    rejects the result (shape mismatches)."""
    path, _ = resolve_source(src, log=log)
    checkpoint = load_source_checkpoint(path, trust=trust)
    state_dict, report = convert_aptm_state_dict(checkpoint)
    comparison = None
    if config is not None:
        comparison = compare_with_model(state_dict,
                                        build_config_model(config)[1])
        report['comparison'] = comparison
    log(format_report(report, comparison))
    if comparison is not None and comparison['errors']:
        raise ValueError(f'The converted weights do not fit the model of '
                         f'{config}; nothing written to {dst}.')
    aptm_cfg = checkpoint.get('config') if isinstance(checkpoint, dict) \
        else None
    meta = dict(
        source=src, source_sha256=sha256_of(path),
        converter='tools/model_converters/aptm2tbps.py',
        aptm_layout=report['layout'],
        aptm_config={k: aptm_cfg[k] for k in CONFIG_KEYS
                     if isinstance(aptm_cfg, dict) and k in aptm_cfg},
        windows=report['windows'],
        temperature=report['temperature'],
        derived=len(report['derived']),
        dropped={k: len(v) for k, v in report['dropped'].items()},
        unmapped=list(report['unmapped']))
    torch_save_atomic(dict(state_dict=state_dict, meta=meta), dst)
    log(f'saved {len(state_dict)} tensors to {dst}')
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    convert(args.src, args.dst, config=args.config, trust=args.trust)
    return 0


if __name__ == '__main__':
    sys.exit(main())
