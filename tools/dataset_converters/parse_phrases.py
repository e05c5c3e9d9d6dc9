"""Parse the noun phrases of every caption of a dataset into a cache file.

Example::

    python tools/dataset_converters/parse_phrases.py data/CUHK-PEDES \
        --format cuhk --out phrases.json

The cache (``{"backend", "grammar", "phrases": {caption: [phrase, ...]}}``)
is what ``phrase_cfg=dict(cache_file='phrases.json')`` of a dataset config
reads; captions already cached are not parsed again.
"""
import argparse
import json
import os.path as osp
import sys
import time

from tbps.datasets.phrases import BACKENDS, load_or_build_phrase_cache

#: Default annotation file of each format (relative to DATA_ROOT).
ANN_FILES = dict(cuhk='reid_raw.json', icfg='ICFG-PEDES.json',
                 rstp='data_captions.json')


def read_captions(ann_file: str):
    """Unique, stripped, non-empty captions of a CUHK-PEDES / ICFG-PEDES /
    RSTPReid annotation file (a JSON list of records with ``captions``), in
    file order (stripped like the datasets strip them)."""
    with open(ann_file, encoding='utf-8') as f:
        records = json.load(f)
    if not isinstance(records, list):
        raise ValueError(f'{ann_file} must hold a JSON list of records.')
    captions = {}
    for i, rec in enumerate(records):
        if not isinstance(rec, dict) or 'captions' not in rec:
            raise ValueError(f'{ann_file}: record {i} has no "captions".')
        caps = rec['captions']
        for cap in [caps] if isinstance(caps, str) else caps:
            if isinstance(cap, str) and cap.strip():
                captions[cap.strip()] = None
    return list(captions)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root', help='dataset folder')
    parser.add_argument('--format', required=True, choices=sorted(ANN_FILES),
                        help='annotation format')
    parser.add_argument('--ann-file', help='annotation file relative to '
                        'DATA_ROOT (default: the format\'s usual name)')
    parser.add_argument('--backend', default='auto', choices=BACKENDS,
                        help='tagger: NLTK data if found, else spaCy')
    parser.add_argument('--out', default='phrases.json',
                        help='cache file relative to DATA_ROOT')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    ann_file = osp.join(args.data_root,
                        args.ann_file or ANN_FILES[args.format])
    out = osp.join(args.data_root, args.out)
    captions = read_captions(ann_file)
    start = time.perf_counter()
    phrases = load_or_build_phrase_cache(captions, out, backend=args.backend)
    seconds = time.perf_counter() - start
    with_phrase = sum(bool(phrases[c]) for c in captions)
    print(f'{len(captions)} unique captions of {ann_file}: '
          f'{with_phrase} with phrases; cache {out} '
          f'({len(phrases)} entries) ready in {seconds:.1f} s.')
    return 0


if __name__ == '__main__':
    sys.exit(main())
