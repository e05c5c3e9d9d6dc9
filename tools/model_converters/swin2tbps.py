"""Convert an official Swin Transformer checkpoint (microsoft/Swin-
Transformer) to the tbps ``SwinImageEncoder`` of APTM-style configs::

    python tools/model_converters/swin2tbps.py swin-b_in22k_window7-224 \\
        checkpoints/swin_base_22k_tbps.pth

SRC is a local file, an http(s) URL or a model-zoo name. The keys go under
``image_encoder.backbone.`` (``--prefix``); the 7x7-window
relative-position tables are resized to the model's windows (8 and 4 at
384x128) when the result is loaded. See :mod:`tbps.converters.swin`.
"""
import argparse
import sys


from tbps.converters.swin import convert_swin_state_dict
from tbps.converters.utils import (load_source_checkpoint, resolve_source,
                                   summarize_keys)
from tbps.utils.fileio import sha256_of, torch_save_atomic


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='path, http(s) URL or model-zoo name')
    parser.add_argument('dst', help='output file')
    parser.add_argument('--prefix', default='image_encoder.backbone.')
    parser.add_argument('--trust', action='store_true',
                        help='fully unpickle SRC if weights_only loading '
                        'refuses it (only for files you trust)')
    args = parser.parse_args(argv)
    path, _ = resolve_source(args.src)
    checkpoint = load_source_checkpoint(path, trust=args.trust)
    state_dict, report = convert_swin_state_dict(checkpoint,
                                                 prefix=args.prefix)
    print(f"{report['num_source_keys']} keys, {report['num_converted']} "
          f"converted, {len(report['dropped'])} dropped (buffers, head)")
    if report['unmapped']:
        print('unmapped: ' + ', '.join(summarize_keys(report['unmapped'])))
    torch_save_atomic(dict(state_dict=state_dict, meta=dict(
        source=args.src, source_sha256=sha256_of(path),
        converter='tools/model_converters/swin2tbps.py')), args.dst)
    print(f'saved {len(state_dict)} tensors to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
