"""Which words does a masker hide? The share of masked tokens that are
function words, for attention-guided masking (AGM) and random masking on
the same captions of a trained fusion model.

Example::

    python tools/analysis_tools/masked_word_share.py \
        configs/aga/aga_synth.py work_dirs/aga_s0/best_R1_epoch_20.pth \
        [--split test] [--num 2000] [--seed 0]

AGM reads the model's own text-encoder [CLS] attention; it is built with
the masker settings of the config's ``mlm`` head when that is an
``AttentionGuidedMasker`` (else AGM's defaults). Random masking is BERT's
15%. Prints one row per masker: masked tokens, share of function words
(the, a, an, with, and, of, in, his, her) and the most masked words.
"""
import argparse
import sys
from collections import Counter

import torch
from mmengine.config import Config, DictAction

from tbps.apis import init_model
from tbps.registry import DATASETS, MODELS

FUNCTION_WORDS = ('the', 'a', 'an', 'with', 'and', 'of', 'in', 'his', 'her')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--split', default='test')
    parser.add_argument('--num', type=int, default=2000,
                        help='captions (the first NUM of the split)')
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def captions_of(cfg, split, num):
    dataset_cfg = dict(cfg.test_dataloader.dataset, split=split, pipeline=[])
    dataset = DATASETS.build(dataset_cfg)
    out = []
    for i in range(len(dataset)):
        caption = dataset.get_data_info(i).get('caption')
        if caption:
            out.append(caption)
        if len(out) == num:
            break
    return out


def maskers_of(cfg, tokenizer):
    mlm = cfg.model.get('heads', {}).get('mlm', {})
    agm = dict(mlm.get('masker', {}))
    if agm.get('type') != 'AttentionGuidedMasker':
        agm = dict(type='AttentionGuidedMasker')
    return dict(random=MODELS.build(dict(type='RandomWordMasker',
                                         mask_prob=0.15),
                                    default_args=dict(tokenizer=tokenizer)),
                agm=MODELS.build(agm, default_args=dict(tokenizer=tokenizer)))


@torch.no_grad()
def masked_words(model, maskers, captions, batch_size, seed):
    """Counter of masked tokens per masker."""
    tokenizer = model.tokenizer
    vocab = tokenizer.vocabulary
    counts = {name: Counter() for name in maskers}
    gen = torch.Generator().manual_seed(seed)
    for start in range(0, len(captions), batch_size):
        text = model.data_preprocessor.tokenize(
            captions[start:start + batch_size])
        _, _, attention = model.text_encoder.forward_with_cls_attention(
            text['input_ids'], text['attention_mask'])
        text = {k: v.cpu() for k, v in text.items()}
        text['cls_attention'] = attention.cpu()
        for name, masker in maskers.items():
            labels = masker(text, generator=gen)['labels']
            counts[name].update(vocab[i] for i in labels[labels != -100]
                                .tolist())
    return counts


def main(argv=None):
    args = parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model = init_model(cfg, args.checkpoint, device='cpu')
    captions = captions_of(cfg, args.split, args.num)
    maskers = maskers_of(cfg, model.tokenizer)
    counts = masked_words(model, maskers, captions, args.batch_size,
                          args.seed)
    print(f'{len(captions)} {args.split} captions of {args.config}')
    print('| masker | masked tokens | function words | most masked |')
    print('|---|---|---|---|')
    for name, counter in counts.items():
        total = sum(counter.values())
        function = sum(counter[w] for w in FUNCTION_WORDS)
        top = ', '.join(f'{w} {100 * c / total:.1f}%'
                        for w, c in counter.most_common(5))
        print(f'| {name} | {total} | {100 * function / total:.1f}% | '
              f'{top} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
