"""Convert an IRRA checkpoint (anosorae/IRRA's ``best.pth``) to tbps
(``configs/irra/irra_*.py``: DualEncoderRetriever + IRRHead).

Example::

    python tools/model_converters/irra2tbps.py \\
        logs/CUHK-PEDES/iira/best.pth checkpoints/irra_cuhk_tbps.pth \\
        --config configs/irra/irra_cuhk.py

SRC is a local file, an http(s) URL or a model-zoo name (the authors'
releases have no direct URL: ``get_model`` prints where to get them). The
weights, float16 in IRRA's files, are stored in float32; the position
embedding stays at IRRA's 24x8 grid (384x128 with stride 16). The output
``{'state_dict', 'meta'}`` is written atomically and loads with
``load_from`` or ``tools/test.py CONFIG DST``. See
:mod:`tbps.converters.irra` for the key mapping.
"""
import argparse
import sys


from tbps.converters.irra import convert_irra_state_dict
from tbps.converters.utils import (build_config_model, compare_with_model,
                                   format_key_report, load_source_checkpoint,
                                   resolve_source)
from tbps.utils.fileio import sha256_of, torch_save_atomic


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert an IRRA checkpoint to tbps.')
    parser.add_argument('src', help='IRRA checkpoint: path, http(s) URL or '
                        'model-zoo name')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--img-size', type=int, nargs=2, default=(384, 128),
                        metavar=('H', 'W'), help='IRRA\'s --img_size')
    parser.add_argument('--config', help='tbps config whose model the '
                        'result is checked against')
    parser.add_argument('--trust', action='store_true',
                        help='fully unpickle SRC if weights_only loading '
                        'refuses it (only for files you trust)')
    return parser.parse_args(argv)


def convert(src: str, dst: str, img_size=(384, 128), config: str = None,
            log=print, trust: bool = False) -> dict:
    """Convert ``src`` into ``dst``; returns the report. Raises before
    writing if the config's model rejects the result (shape mismatches)."""
    path, _ = resolve_source(src, log=log)
    checkpoint = load_source_checkpoint(path, trust=trust)
    state_dict, report = convert_irra_state_dict(checkpoint,
                                                 img_size=img_size)
    comparison = None
    if config is not None:
        comparison = compare_with_model(state_dict,
                                        build_config_model(config)[1])
    log(f"IRRA checkpoint {src}: {report['num_source_keys']} keys, "
        f"{report['num_converted']} converted; IRR head: "
        f"{'yes' if report['irr'] else 'no'}; ID classes: "
        f"{report['id_classes']}")
    log('\n'.join(format_key_report(report, comparison)))
    if comparison is not None and comparison['errors']:
        raise ValueError(f'The converted weights do not fit the model of '
                         f'{config}; nothing written to {dst}.')
    meta = dict(source=src, source_sha256=sha256_of(path),
                converter='tools/model_converters/irra2tbps.py',
                img_size=tuple(int(s) for s in img_size),
                id_classes=report['id_classes'],
                unmapped=list(report['unmapped']))
    torch_save_atomic(dict(state_dict=state_dict, meta=meta), dst)
    log(f'saved {len(state_dict)} tensors to {dst}')
    return report


def main(argv=None) -> int:
    args = parse_args(argv)
    convert(args.src, args.dst, img_size=args.img_size, config=args.config,
            trust=args.trust)
    return 0


if __name__ == '__main__':
    sys.exit(main())
