"""Build the word vocabulary of a config's WordTokenizer from the training
captions of its training dataset.

Example::

    python tools/dataset_converters/build_word_vocab.py \
        configs/cmmoco/cmmoco_cuhk.py [--min-count 3] [--out FILE]

Words are lower-cased with punctuation deleted (TextReID); those seen at
least ``--min-count`` times in the training split are kept, most frequent
first, after ``<pad>`` and ``<unk>``. The file is written (atomically) to
``model.data_preprocessor.tokenizer.vocab_file`` unless ``--out`` is given.
"""
import argparse
import sys

from mmengine.config import Config, DictAction

from tbps.datasets.tokenizers import build_word_vocab
from tbps.registry import DATASETS
from tbps.utils import register_all_modules
from tbps.utils.fileio import atomic_open


def training_captions(cfg: Config):
    """Every caption of the config's training dataset, in order."""
    dataset_cfg = dict(cfg.train_dataloader.dataset)
    dataset_cfg['pipeline'] = []
    dataset = DATASETS.build(dataset_cfg)
    return [dataset.get_data_info(i)['caption'] for i in range(len(dataset))]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--min-count', type=int, default=3)
    parser.add_argument('--out', help='vocabulary file (default: the '
                        "config's tokenizer vocab_file)")
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    register_all_modules()
    out = args.out or cfg.model.data_preprocessor.tokenizer.get('vocab_file')
    if not out:
        raise SystemExit(f'{args.config} has no tokenizer vocab_file; pass '
                         '--out FILE.')
    captions = training_captions(cfg)
    words = build_word_vocab(captions, min_count=args.min_count)
    with atomic_open(out, 'w', encoding='utf-8') as f:
        f.write('\n'.join(words) + '\n')
    print(f'{len(words) - 2} words (seen >= {args.min_count} times in '
          f'{len(captions)} training captions) + <pad>, <unk> -> {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
