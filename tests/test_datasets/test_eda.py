"""EDA caption augmentation (APTM's second text view): the four operations,
the transform, its seeding, the synonym backends and packing.

The WordNet backend is tested on a tiny WordNet this test writes in NLTK's
layout (``corpora/wordnet``: index, data, exception and lexnames files), so
nothing is downloaded.
"""
import os
import pickle
import random
from collections import Counter

import pytest
from mmengine.dataset import Compose
from mmengine.dataset.utils import worker_init_fn

from tbps.datasets.transforms import EDACaption, PackTBPSInputs
from tbps.datasets.transforms import eda as eda_mod
from tbps.datasets.transforms.eda import (STOP_WORDS, WORDNET_FIX,
                                          BuiltinSynonyms, MissingWordNetError,
                                          clean_caption, random_deletion,
                                          random_insertion, random_swap,
                                          synonym_replacement)
from tbps.datasets.transforms.eda_synonyms import (BUILTIN_SYNONYMS,
                                                   SYNONYM_GROUPS)
from tbps.registry import TRANSFORMS
from tbps.structures import TBPSDataSample

CAPTION = ('A young woman wearing a grey T-shirt, blue jeans and white '
           "sneakers; she's carrying a black backpack in her left hand.")
WORDS = clean_caption(CAPTION).split()
SEEDS = range(40)

# A table with single-word synonyms, so positions stay aligned; stopwords
# ("a", "in", "the") have synonyms here and must still never be used.
TABLE = {'man': ('guy', 'gentleman'), 'coat': ('jacket', ), 'grey': ('gray', ),
         'a': ('one', ), 'in': ('inside', ), 'the': ('thy', )}
SENTENCE = 'the man in a grey coat and the man in black'.split()


def _only(op, **kwargs):
    """An EDACaption with one operation enabled."""
    rates = dict(alpha_sr=0, alpha_ri=0, alpha_rs=0, p_rd=0)
    rates[op] = kwargs.pop('rate', 0.1)
    return EDACaption(**rates, synonyms='builtin', **kwargs)


def _eda_views(transform, seed, captions=(CAPTION, ) * 20):
    random.seed(seed)
    return [transform(dict(caption=c))['caption_eda'] for c in captions]


def _is_subsequence(short, long):
    it = iter(long)
    return all(w in it for w in short)


# ----------------------------------------------------------------------
def test_clean_caption_as_eda():
    assert clean_caption("A man's T-shirt,\t2 bags.\nShe\u2019s tall") == \
        'a mans t shirt bags shes tall'
    assert clean_caption('  123 ... ') == ''


def test_stopwords_are_edas_list():
    assert len(STOP_WORDS) == 128
    assert {'a', 'the', 'in', 'with', 'her', 'his', 's', 't', ''} <= STOP_WORDS
    assert not {'man', 'woman', 'shirt', 'wearing', 'black'} & STOP_WORDS


def test_builtin_table():
    assert 100 <= len(BUILTIN_SYNONYMS) <= 250
    assert {'grey', 'gray', 'man', 'woman', 'trousers', 'sneakers',
            'wearing', 'jacket'} <= set(BUILTIN_SYNONYMS)
    assert 'gray' in BUILTIN_SYNONYMS['grey']
    assert 'dressed in' in BUILTIN_SYNONYMS['wearing']
    for word, synonyms in BUILTIN_SYNONYMS.items():
        # Keys are what clean_caption yields; EDA never looks up stopwords.
        assert clean_caption(word) == word and ' ' not in word
        assert word not in STOP_WORDS
        assert synonyms and word not in synonyms
        assert all(clean_caption(s) == s for s in synonyms)
    # Groups are symmetric between their single-word members.
    for group in SYNONYM_GROUPS:
        for a in group:
            for b in group:
                if a != b and ' ' not in a:
                    assert b in BUILTIN_SYNONYMS[a], (a, b)
    # Only true synonyms: a handbag is a bag, a bag is not a handbag.
    assert 'bag' not in BUILTIN_SYNONYMS
    assert 'old' not in BUILTIN_SYNONYMS  # "old shoes" -> "elderly shoes"


# ----------------------------------------------------------------------
# The operations
@pytest.mark.parametrize('seed', SEEDS)
def test_synonym_replacement(seed):
    rng = random.Random(seed)
    out = synonym_replacement(SENTENCE, 1, BuiltinSynonyms(TABLE), rng)
    assert len(out) == len(SENTENCE)
    changed = {(a, b) for a, b in zip(SENTENCE, out) if a != b}
    # Exactly one distinct non-stopword is replaced, at every occurrence,
    # by one of its table synonyms.
    assert len({a for a, _ in changed}) == 1
    (word, synonym), = {(a, b) for a, b in changed}
    assert word not in STOP_WORDS and synonym in TABLE[word]
    assert all(b == synonym for a, b in zip(SENTENCE, out) if a == word)


def test_synonym_replacement_n_and_stopwords():
    out = synonym_replacement(SENTENCE, 100, BuiltinSynonyms(TABLE),
                              random.Random(0))
    for a, b in zip(SENTENCE, out):
        if a in STOP_WORDS or a not in TABLE:
            assert a == b
        else:
            assert b in TABLE[a]
    # Two distinct words may be replaced with n=2, never three.
    for seed in SEEDS:
        out = synonym_replacement(SENTENCE, 2, BuiltinSynonyms(TABLE),
                                  random.Random(seed))
        assert len({a for a, b in zip(SENTENCE, out) if a != b}) == 2


def test_synonym_replacement_splits_phrases():
    out = synonym_replacement(['wearing'], 1, lambda w: ('dressed in', ),
                              random.Random(0))
    assert out == ['dressed', 'in']


@pytest.mark.parametrize('seed', SEEDS)
def test_random_insertion(seed):
    rng = random.Random(seed)
    out = random_insertion(SENTENCE, 2, BuiltinSynonyms(TABLE), rng)
    assert len(out) == len(SENTENCE) + 2
    # The sentence is kept in order; what is added are synonyms of its
    # non-stopwords.
    assert _is_subsequence(SENTENCE, out)
    added = Counter(out) - Counter(SENTENCE)
    allowed = {s for w in SENTENCE if w not in STOP_WORDS
               for s in TABLE.get(w, ())}
    assert sum(added.values()) == 2 and set(added) <= allowed


def test_random_insertion_without_synonyms_is_a_no_op():
    words = 'the cat in a hat'.split()
    assert random_insertion(words, 3, BuiltinSynonyms(TABLE),
                            random.Random(0)) == words
    # Stopwords with synonyms are never the anchor.
    assert random_insertion(['a', 'in', 'the'], 3, BuiltinSynonyms(TABLE),
                            random.Random(0)) == ['a', 'in', 'the']


@pytest.mark.parametrize('seed', SEEDS)
def test_random_swap(seed):
    rng = random.Random(seed)
    words = [f'w{i}' for i in range(10)]
    out = random_swap(words, 1, rng)
    assert Counter(out) == Counter(words)
    assert sum(a != b for a, b in zip(words, out)) == 2  # one real swap
    out = random_swap(WORDS, 3, rng)
    assert Counter(out) == Counter(WORDS) and out != WORDS
    assert random_swap(['alone'], 5, rng) == ['alone']


@pytest.mark.parametrize('seed', SEEDS)
def test_random_deletion(seed):
    rng = random.Random(seed)
    out = random_deletion(WORDS, 0.3, rng)
    assert 1 <= len(out) < len(WORDS)
    assert _is_subsequence(out, WORDS)
    # Even when every word is deleted one is kept.
    out = random_deletion(WORDS, 1.0, rng)
    assert len(out) == 1 and out[0] in WORDS
    assert random_deletion(['alone'], 1.0, rng) == ['alone']
    assert random_deletion(WORDS, 0.0, rng) == WORDS


# ----------------------------------------------------------------------
# The transform
def test_defaults_are_aptms():
    t = TRANSFORMS.build(dict(type='EDACaption'))
    assert isinstance(t, EDACaption)
    assert (t.alpha_sr, t.alpha_ri, t.alpha_rs, t.p_rd, t.prob) == \
        (0.1, 0.1, 0.1, 0.1, 1.0)
    assert t.ops == ('sr', 'ri', 'rs', 'rd')
    assert t.synonyms_backend == 'auto'


def test_deterministic_under_seed():
    t = EDACaption(synonyms='builtin')
    captions = [CAPTION] * 20 + ['a man in a grey coat walks with a bag'] * 20
    a = _eda_views(t, 3, captions)
    assert a == _eda_views(t, 3, captions)
    assert a != _eda_views(t, 4, captions)
    assert len(set(a)) > 5  # it augments, and differently per call
    # A copy in a (spawned) worker gives the same views.
    assert a == _eda_views(pickle.loads(pickle.dumps(t)), 3, captions)


def test_one_global_draw_per_call():
    """Whatever the caption, other transforms see the same global stream."""
    t = EDACaption(synonyms='builtin')
    random.seed(0)
    t(dict(caption=CAPTION * 3))
    after = random.random()
    random.seed(0)
    random.getrandbits(64)
    assert random.random() == after


def test_workers_seeded_by_mmengine_differ():
    t = EDACaption(synonyms='builtin')

    def worker(worker_id, seed=7):
        worker_init_fn(worker_id, num_workers=2, rank=0, seed=seed)
        return [t(dict(caption=CAPTION))['caption_eda'] for _ in range(20)]

    assert worker(0) == worker(0)
    assert worker(0) != worker(1)


@pytest.mark.parametrize('disabled', [None, 'alpha_rs'])
def test_one_enabled_op_chosen_uniformly(monkeypatch, disabled):
    calls = Counter()
    for name in ('synonym_replacement', 'random_insertion', 'random_swap',
                 'random_deletion'):
        def record(words, *args, _name=name, **kwargs):
            calls[_name] += 1
            return list(words)
        monkeypatch.setattr(eda_mod, name, record)
    kwargs = {disabled: 0} if disabled else {}
    t = EDACaption(synonyms='builtin', **kwargs)
    views = _eda_views(t, 0, [CAPTION] * 400)
    assert views == [' '.join(WORDS)] * 400
    assert sum(calls.values()) == 400  # one operation per caption
    expected = {'synonym_replacement', 'random_insertion', 'random_swap',
                'random_deletion'} - ({'random_swap'} if disabled else set())
    assert set(calls) == expected
    assert all(n > 400 / len(expected) * 0.7 for n in calls.values())


def test_caption_untouched_and_each_op():
    for seed in SEEDS:
        random.seed(seed)
        results = dict(caption=CAPTION)
        out = _only('alpha_rs')(results)
        assert out['caption'] == CAPTION
        assert Counter(out['caption_eda'].split()) == Counter(WORDS)
        assert out['caption_eda'] != ' '.join(WORDS)

        sr = _only('alpha_sr')(dict(caption=CAPTION))['caption_eda'].split()
        replaced = [w for w in WORDS if w not in sr]
        assert replaced and all(w in BUILTIN_SYNONYMS for w in replaced)

        rd = _only('p_rd', rate=0.5)(dict(caption=CAPTION))['caption_eda']
        assert 1 <= len(rd.split()) < len(WORDS)
        assert _is_subsequence(rd.split(), WORDS)

        ri = _only('alpha_ri')(dict(caption=CAPTION))['caption_eda'].split()
        assert len(ri) > len(WORDS) and _is_subsequence(WORDS, ri)


def test_prob_and_empty_caption():
    t = EDACaption(prob=0, synonyms='builtin')
    assert t(dict(caption=CAPTION))['caption_eda'] == CAPTION
    t = EDACaption(prob=0.5, synonyms='builtin')
    views = _eda_views(t, 0)
    assert 0 < views.count(CAPTION) < len(views)
    assert EDACaption(synonyms='builtin')(dict(caption='42!'))[
        'caption_eda'] == '42!'


def test_invalid_arguments():
    with pytest.raises(ValueError, match='alpha_sr must be in'):
        EDACaption(alpha_sr=1.5, synonyms='builtin')
    with pytest.raises(ValueError, match='every operation is disabled'):
        EDACaption(alpha_sr=0, alpha_ri=0, alpha_rs=0, p_rd=0,
                   synonyms='builtin')
    with pytest.raises(ValueError, match="'auto', 'wordnet', 'builtin'"):
        EDACaption(synonyms='thesaurus')


def test_caption_eda_reaches_the_data_sample():
    assert 'caption_eda' in PackTBPSInputs.DEFAULT_META_KEYS
    pipeline = Compose([dict(type='EDACaption', synonyms='builtin'),
                        dict(type='PackTBPSInputs')])
    random.seed(1)
    packed = pipeline(dict(caption=CAPTION, pid=3, modality='pair'))
    sample = packed['data_samples']
    assert isinstance(sample, TBPSDataSample)
    assert sample.caption == CAPTION
    random.seed(1)
    assert sample.caption_eda == EDACaption(synonyms='builtin')(
        dict(caption=CAPTION))['caption_eda']


# ----------------------------------------------------------------------
# Synonym backends
def _write_wordnet(root, synsets):
    """A WordNet database in NLTK's layout holding ``synsets``, a list of
    ``(pos, [lemma names])``; offsets are the lines' byte offsets."""
    folder = os.path.join(root, 'corpora', 'wordnet')
    os.makedirs(folder)
    header = '  1 WordNet 3.0 Copyright 2006 by Princeton University.\n'
    for pos, suffix in dict(n='noun', v='verb', a='adj', r='adv').items():
        data, index, offset = [], {}, len(header)
        for p, lemmas in synsets:
            if p != pos:
                continue
            names = ' '.join(f'{lemma} 0' for lemma in lemmas)
            line = f'{offset:08d} 00 {pos} {len(lemmas):02x} {names} 000 | x\n'
            data.append(line)
            for lemma in lemmas:
                index.setdefault(lemma.lower(), []).append(offset)
            offset += len(line.encode())
        with open(os.path.join(folder, f'data.{suffix}'), 'w') as f:
            f.write(header + ''.join(data))
        with open(os.path.join(folder, f'index.{suffix}'), 'w') as f:
            f.write(header)
            for lemma, offsets in sorted(index.items()):
                n = len(offsets)
                f.write(f'{lemma} {pos} {n} 0 {n} 0 ' +
                        ' '.join(f'{o:08d}' for o in offsets) + '\n')
        open(os.path.join(folder, f'{suffix}.exc'), 'w').close()
    with open(os.path.join(folder, 'lexnames'), 'w') as f:
        f.write('00\tadj.all\t3\n')
    for name in ('index.sense', 'cntlist.rev'):
        open(os.path.join(folder, name), 'w').close()


@pytest.fixture
def logs(monkeypatch):
    messages = []
    monkeypatch.setattr(eda_mod, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    return messages


@pytest.fixture
def no_wordnet(monkeypatch, tmp_path):
    import nltk
    monkeypatch.setattr(nltk.data, 'path', [str(tmp_path)])
    return tmp_path


@pytest.fixture
def tiny_wordnet(monkeypatch, tmp_path):
    import nltk
    _write_wordnet(str(tmp_path), [
        ('n', ['tee_shirt', 'T-shirt', 'shirt']),
        ('n', ['coat', 'jacket']),
        ('v', ['wear', 'have_on']),
        ('n', ['angstrom', 'A']),  # the stopword "a" has synonyms too
    ])
    monkeypatch.setattr(nltk.data, 'path', [str(tmp_path)])
    return tmp_path


def test_wordnet_missing_data_error(no_wordnet, logs):
    with pytest.raises(MissingWordNetError) as info:
        EDACaption(synonyms='wordnet')
    assert isinstance(info.value, LookupError)
    assert WORDNET_FIX == 'python -m nltk.downloader wordnet'
    assert WORDNET_FIX in str(info.value)
    assert str(no_wordnet) in str(info.value)  # where it searched
    assert "synonyms='builtin'" in str(info.value)
    assert not logs


def test_auto_falls_back_to_builtin(no_wordnet, logs):
    t = EDACaption()
    assert t.synonyms.name == 'builtin'
    assert len(logs) == 1 and "'builtin'" in logs[0]
    assert WORDNET_FIX in logs[0]
    t(dict(caption=CAPTION))
    assert len(logs) == 1  # logged once, not per caption
    assert "-> 'builtin'" in repr(t)


def test_wordnet_backend(tiny_wordnet, logs):
    t = EDACaption()
    assert t.synonyms.name == 'wordnet'
    assert len(logs) == 1 and "'wordnet'" in logs[0]
    # EDA's cleaning of lemma names; WordNet's morphy finds "wearing".
    assert t.synonyms('shirt') == ('t shirt', 'tee shirt')
    assert t.synonyms('wearing') == ('have on', 'wear')
    assert t.synonyms('trousers') == ()
    sr = _only('alpha_sr', rate=1.0)
    sr.synonyms = t.synonyms
    random.seed(0)
    out = sr(dict(caption='a man wearing a coat'))['caption_eda']
    assert out in ('a man have on a jacket', 'a man wear a jacket')
    # A pickled copy (a spawned worker) reopens the data itself.
    copy = pickle.loads(pickle.dumps(EDACaption(synonyms='wordnet')))
    assert copy.synonyms._reader is None
    assert copy.synonyms('coat') == ('jacket', )


def test_wordnet_backend_never_anchors_on_stopwords(tiny_wordnet):
    ri = _only('alpha_ri', rate=1.0)
    ri.synonyms = EDACaption(synonyms='wordnet').synonyms
    assert ri.synonyms('a') == ('angstrom', )
    for seed in SEEDS:
        random.seed(seed)
        out = ri(dict(caption='a shirt'))['caption_eda'].split()
        assert 'angstrom' not in out


def test_synth_pedes_synonyms_are_the_grammars_own():
    """Each SynthPEDES synonym pair is used by the grammar for one value,
    and the view of a SynthPEDES caption stays in its vocabulary."""
    import random as random_module

    import numpy as np

    from tbps.datasets.synth import VOCAB_FILE
    from tbps.datasets.synth.attributes import sample_identity
    from tbps.datasets.synth.captions import (_LEXICON, SYNONYM_GROUPS,
                                              _strings, make_caption)
    from tbps.registry import TRANSFORMS

    def tuples(obj):
        if isinstance(obj, tuple) and all(isinstance(v, str) for v in obj):
            yield obj
        elif isinstance(obj, dict):
            for v in obj.values():
                yield from tuples(v)
        elif isinstance(obj, (tuple, list)):
            for v in obj:
                yield from tuples(v)

    together = [set(t) for t in tuples(_LEXICON)]
    for group in SYNONYM_GROUPS:
        assert any(set(group) <= t for t in together), group
    assert {w for g in SYNONYM_GROUPS for w in g} <= set(_strings(_LEXICON))

    eda = TRANSFORMS.build(dict(type='EDACaption', synonyms='synth_pedes'))
    assert eda.synonyms('grey') == ('gray', ) and eda.synonyms('red') == ()
    with open(VOCAB_FILE) as f:
        vocab = set(f.read().split())
    rng = np.random.default_rng(0)
    random_module.seed(0)
    changed = 0
    for _ in range(300):
        caption = make_caption(sample_identity(rng), rng)
        view = eda(dict(caption=caption))['caption_eda']
        assert set(view.split()) <= vocab, view
        changed += view != caption.lower().replace(',', '').replace('.', '')
    assert changed > 200
