"""Prepare a training checkpoint for release in the model zoo::

    python tools/misc/publish_model.py IN OUT [--config CONFIG]
        [--url-prefix URL] [--collection NAME]

Keeps the weights (``state_dict``) and a small ``meta`` (epoch, iteration,
config text, seed), drops the optimizer, the schedulers and the message
hub, saves in float32 to ``OUT`` with the first 8 hex digits of the file's
sha256 appended (OpenMMLab's convention: ``laip_cuhk.pth`` ->
``laip_cuhk-3f2a9c1d.pth``), written atomically, and prints the metafile
entry to paste into ``configs/<method>/metafile.yml``.
"""
import argparse
import os
import os.path as osp
import sys


from tbps.utils.download import load_untrusted
from tbps.utils.fileio import sha256_of, torch_save_atomic

META_KEYS = ('epoch', 'iter', 'seed', 'cfg', 'mmengine_version',
             'dataset_meta')


def publish(src: str, dst: str) -> str:
    """Write the stripped checkpoint; returns its final path."""
    checkpoint = load_untrusted(src)
    if 'state_dict' not in checkpoint:
        raise ValueError(f'{src} has no state_dict: not a tbps training '
                         'checkpoint.')
    state_dict = {k: v.float() if v.is_floating_point() else v
                  for k, v in checkpoint['state_dict'].items()}
    meta = {k: v for k, v in (checkpoint.get('meta') or {}).items()
            if k in META_KEYS}
    meta['published_from'] = osp.basename(src)
    tmp = dst + '.unhashed'
    torch_save_atomic(dict(state_dict=state_dict, meta=meta), tmp)
    sha = sha256_of(tmp)
    stem, ext = osp.splitext(dst)
    final = f'{stem}-{sha[:8]}{ext or ".pth"}'
    os.replace(tmp, final)
    return final


def metafile_entry(path: str, config: str, url_prefix: str,
                   collection: str) -> str:
    name = osp.splitext(osp.basename(path))[0].rsplit('-', 1)[0]
    return '\n'.join([
        f'  - Name: {name}',
        f'    In Collection: {collection}',
        f'    Config: {config}',
        f'    Weights: {url_prefix.rstrip("/")}/{osp.basename(path)}',
        f'    SHA256: {sha256_of(path)}',
        '    Results From: tbps (state the machine, seeds and command)',
        '    Results:',
        '      - Task: Text-to-Image Person Retrieval',
        '        Dataset: DATASET',
        '        Metrics: {R1: 0.0, R5: 0.0, R10: 0.0, mAP: 0.0, mINP: 0.0}',
    ])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='training checkpoint (IN)')
    parser.add_argument('dst', help='output file (OUT); the sha256 prefix '
                        'is added to its name')
    parser.add_argument('--config', default='configs/METHOD/CONFIG.py')
    parser.add_argument('--url-prefix', default='https://URL/OF/RELEASES')
    parser.add_argument('--collection', default='METHOD')
    args = parser.parse_args(argv)
    path = publish(args.src, args.dst)
    size = osp.getsize(path) / 2**20
    print(f'wrote {path} ({size:.1f} MiB). Metafile entry (fill in the '
          'results you measured):\n')
    print(metafile_entry(path, args.config, args.url_prefix,
                         args.collection))
    return 0


if __name__ == '__main__':
    sys.exit(main())
