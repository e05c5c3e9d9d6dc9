"""What does text enrichment (TEM) write into the captions? The words a
trained AGA model's ``TextEnricher`` replaces in training batches, and
what each replacement does to the description.

Example::

    python tools/analysis_tools/tem_replacements.py \
        configs/aga/aga_synth.py work_dirs/aga_s0/best_R1_epoch_16.pth \
        [--batches 20] [--seed 0]

Runs the config's masker, masked-token head and ``TextEnricher`` (the
config's ``tem`` head, or one with its defaults when the config has none)
on ``--batches`` batches of the training split, exactly as a training step
does, without updating anything. Each replacement ``original -> new`` is
classified with the vocabulary of the SynthPEDES generator, whose captions
describe their images exactly: ``synonym`` (the same word class, e.g.
gray -> grey, trousers -> pants), ``colour changed`` (red -> blue),
``attribute changed`` (backpack -> handbag, woman -> man, skirt ->
trousers, long -> short) and ``other``. On real data the first three
columns only count SynthPEDES's words.
"""
import argparse
import sys
from collections import Counter
from typing import Dict

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner, set_random_seed

from tbps.apis import init_model
from tbps.datasets.synth.captions import (ATTRIBUTE_KEYWORDS, COLOR_WORDS,
                                          HAIR_COLOR_WORDS, LENGTH_WORDS)
from tbps.datasets.transforms.eda import synth_pedes_synonyms
from tbps.models.heads import TextEnricher
from tbps.models.heads.fusion_batch import FusionBatch

CATEGORIES = ('synonym', 'colour changed', 'attribute changed', 'other')


def _colour_classes() -> Dict[str, set]:
    """word -> the colour classes it names (hair "dark" is black)."""
    colours: Dict[str, set] = {}
    for table in (COLOR_WORDS, HAIR_COLOR_WORDS):
        for colour, words in table.items():
            for word in words:
                colours.setdefault(word, set()).add(colour)
    return colours


_COLOURS = _colour_classes()
# the SynthPEDES grammar's interchangeable words (gray / grey, ...)
_SYNONYMS = synth_pedes_synonyms()
# sleeve and hair length: "long" / "short"
_LENGTHS = {word: length for length, word in LENGTH_WORDS.items()}


def classify(original: str, new: str) -> str:
    """One of :data:`CATEGORIES` for the replacement ``original -> new``."""
    if new in _SYNONYMS(original):
        return 'synonym'
    if original in _COLOURS and new in _COLOURS:
        if _COLOURS[original] & _COLOURS[new]:
            return 'synonym'
        return 'colour changed'
    for table in (ATTRIBUTE_KEYWORDS, _LENGTHS):
        if original in table and new in table:
            if table[original] == table[new]:
                return 'synonym'
            return 'attribute changed'
    return 'other'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--batches', type=int, default=20,
                        help='training batches to enrich')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def enricher_of(model) -> TextEnricher:
    """The model's ``TextEnricher`` head, else one with its defaults."""
    for head in model.heads.values():
        if isinstance(head, TextEnricher):
            return head
    return TextEnricher(model.tokenizer)


@torch.no_grad()
def replacements(model, enricher, loader, batches: int):
    """Counter of (original, new) words and the number of captions."""
    vocab = model.tokenizer.vocabulary
    pairs: Counter = Counter()
    captions = 0
    for i, data in enumerate(loader):
        if i == batches:
            break
        data = model.data_preprocessor(data, True)
        batch = FusionBatch(model, data['inputs'], data['data_samples'])
        before = batch.text['input_ids'].clone()
        enricher.loss(batch)
        after = batch.text['input_ids']
        changed = before != after
        pairs.update(zip((vocab[t] for t in before[changed].tolist()),
                         (vocab[t] for t in after[changed].tolist())))
        captions += len(before)
    return pairs, captions


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    # the draws of the masker, of TEM and of the pipeline's augmentations
    set_random_seed(args.seed)
    model = init_model(cfg, args.checkpoint, device='cpu')
    enricher = enricher_of(model)
    loader = Runner.build_dataloader(
        dict(cfg.train_dataloader, num_workers=0, persistent_workers=False),
        seed=args.seed)
    pairs, captions = replacements(model, enricher, loader, args.batches)
    total = sum(pairs.values())
    share = Counter()
    for (original, new), count in pairs.items():
        share[classify(original, new)] += count
    print(f'{captions} training captions of {args.config}, TEM prob '
          f'{enricher.prob}')
    print('| replaced words | per caption | '
          + ' | '.join(CATEGORIES) + ' |')
    print('|---|---|' + '---|' * len(CATEGORIES))
    cells = [f'{100 * share[c] / max(total, 1):.1f}%' for c in CATEGORIES]
    print(f'| {total} | {total / max(captions, 1):.2f} | '
          + ' | '.join(cells) + ' |')
    top = ', '.join(f'{o} -> {n} {100 * c / total:.1f}%'
                    for (o, n), c in pairs.most_common(8))
    print(f'most frequent: {top}' if total else 'no word was replaced')
    return 0


if __name__ == '__main__':
    sys.exit(main())
