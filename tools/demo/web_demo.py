"""Search a photo folder by sentence in the browser::

    python tools/demo/web_demo.py CONFIG CHECKPOINT --gallery DIR [--port 7860]

Serves http://127.0.0.1:PORT (this machine only; ``--host 0.0.0.0`` opens
it to the network, at your own risk): a text box, a top-k slider, the
ranked photos with scores, and for fusion models (ALBEF, LAIP) the
attention map of a phrase over a clicked photo. The gallery's features are
computed once and saved beside it (``--index-file``).
"""
import argparse
import os.path as osp
import sys

from mmengine.config import Config, DictAction

from tbps.apis import TextPersonSearcher, init_model
from tbps.apis.web_demo import DemoServer


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint', help="weights (path, URL), or 'none'")
    parser.add_argument('--gallery', required=True, help='photo folder')
    parser.add_argument('--port', type=int, default=7860)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--index-file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def build_server(args) -> DemoServer:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    ckpt = None if args.checkpoint.lower() == 'none' else args.checkpoint
    model = init_model(cfg, ckpt)
    index = args.index_file or osp.join(
        args.gallery, f'.tbps_index_'
        f'{osp.splitext(osp.basename(args.config))[0]}.pth')
    searcher = TextPersonSearcher(model, args.gallery, index_file=index)
    return DemoServer(searcher, host=args.host, port=args.port,
                      gallery_root=args.gallery,
                      title=osp.basename(args.config))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.host not in ('127.0.0.1', 'localhost'):
        print(f'WARNING: serving on {args.host}: anyone who reaches this '
              'machine can search the gallery.')
    server = build_server(args)
    print(f'tbps demo on {server.url} ({len(server.searcher.paths)} photos);'
          ' Ctrl+C stops it')
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == '__main__':
    sys.exit(main())
