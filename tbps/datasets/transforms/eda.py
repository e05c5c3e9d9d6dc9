"""EDA, "Easy Data Augmentation" of captions (Wei & Zou, EMNLP 2019), as
the second text view of APTM fine-tuning.

APTM trains with ``(itc + 0.8 itc_eda) + (itm + 0.8 itm_eda) + mlm``,
where the ``_eda`` terms use an EDA copy of the caption. As in the APTM
code (``pre_caption(..., is_eda=True)`` calling ``eda(..., num_aug=1)``),
one augmented sentence is made per caption by *one* of the four
operations, chosen uniformly among those enabled (with ``num_aug=1`` the
authors make one sentence per operation, shuffle and keep the first):

* SR, synonym replacement: ``n = max(1, int(alpha_sr * N))`` distinct
  non-stopwords (``N`` words in the caption) are replaced, every
  occurrence, by a random synonym;
* RI, random insertion: ``n = max(1, int(alpha_ri * N))`` times, a random
  synonym of a random non-stopword is inserted at a random position;
* RS, random swap: ``n = max(1, int(alpha_rs * N))`` swaps of two words;
* RD, random deletion: each word is deleted with probability ``p_rd``,
  keeping at least one word.

The caption is first cleaned as EDA does (:func:`clean_caption`: lower
case, letters only), so the EDA view is lower case without punctuation or
digits even where the caption keeps them (APTM on CUHK-PEDES).
"""
import random
import re
import warnings
from typing import Callable, List, Sequence, Tuple

from mmcv.transforms import BaseTransform
from mmengine.logging import print_log

from tbps.registry import TRANSFORMS
from .eda_synonyms import BUILTIN_SYNONYMS

#: EDA's stopword list (``eda.py`` of Wei & Zou, copied by APTM): never
#: replaced by a synonym nor used as the anchor of an insertion.
STOP_WORDS = frozenset((
    'i', 'me', 'my', 'myself', 'we', 'our', 'ours', 'ourselves', 'you',
    'your', 'yours', 'yourself', 'yourselves', 'he', 'him', 'his', 'himself',
    'she', 'her', 'hers', 'herself', 'it', 'its', 'itself', 'they', 'them',
    'their', 'theirs', 'themselves', 'what', 'which', 'who', 'whom', 'this',
    'that', 'these', 'those', 'am', 'is', 'are', 'was', 'were', 'be', 'been',
    'being', 'have', 'has', 'had', 'having', 'do', 'does', 'did', 'doing',
    'a', 'an', 'the', 'and', 'but', 'if', 'or', 'because', 'as', 'until',
    'while', 'of', 'at', 'by', 'for', 'with', 'about', 'against', 'between',
    'into', 'through', 'during', 'before', 'after', 'above', 'below', 'to',
    'from', 'up', 'down', 'in', 'out', 'on', 'off', 'over', 'under', 'again',
    'further', 'then', 'once', 'here', 'there', 'when', 'where', 'why',
    'how', 'all', 'any', 'both', 'each', 'few', 'more', 'most', 'other',
    'some', 'such', 'no', 'nor', 'not', 'only', 'own', 'same', 'so', 'than',
    'too', 'very', 's', 't', 'can', 'will', 'just', 'don', 'should', 'now',
    ''))

SYNONYM_BACKENDS = ('auto', 'wordnet', 'builtin', 'synth_pedes')
WORDNET_FIX = 'python -m nltk.downloader wordnet'

#: word -> its synonyms (sorted, never the word itself).
SynonymFn = Callable[[str], Sequence[str]]


class MissingWordNetError(LookupError):
    """The ``'wordnet'`` backend cannot find NLTK or its WordNet data."""


def clean_caption(text: str) -> str:
    """EDA's ``get_only_chars``: drop apostrophes, split hyphens, lower-case
    and turn every character but ``a-z`` into a space; single-spaced.

    >>> clean_caption("A man's T-shirt, 2 bags.")
    'a mans t shirt bags'
    """
    text = text.replace('\u2019', '').replace("'", '').lower()
    return ' '.join(re.sub(r'[^a-z]+', ' ', text).split())


# ----------------------------------------------------------------------
# Synonym backends
class BuiltinSynonyms:
    """Synonyms from the table shipped with tbps
    (:data:`~tbps.datasets.transforms.eda_synonyms.BUILTIN_SYNONYMS`)."""

    name = 'builtin'

    def __init__(self, table=None):
        self.table = BUILTIN_SYNONYMS if table is None else table

    def __call__(self, word: str) -> Tuple[str, ...]:
        return tuple(self.table.get(word, ()))


def synth_pedes_synonyms() -> BuiltinSynonyms:
    """The SynthPEDES grammar's interchangeable words
    (:data:`tbps.datasets.synth.captions.SYNONYM_GROUPS`) as a table."""
    from tbps.datasets.synth.captions import SYNONYM_GROUPS
    table = {w: tuple(sorted(set(g) - {w})) for g in SYNONYM_GROUPS
             for w in g}
    synonyms = BuiltinSynonyms(table)
    synonyms.name = 'synth_pedes'
    return synonyms


def load_wordnet():
    """NLTK's WordNet corpus reader, from installed data only.

    A reader of our own rather than the global ``nltk.corpus.wordnet``: that
    lazy loader rewrites itself on first use, a process-wide side effect.

    Raises:
        MissingWordNetError: NLTK or its ``wordnet`` data is not installed;
            the message says how to install it (nothing is downloaded).
    """
    try:
        import nltk
    except ImportError as e:
        raise MissingWordNetError(
            "EDA synonyms='wordnet' needs NLTK and its WordNet data: "
            f"pip install nltk && {WORDNET_FIX} (or use synonyms='builtin')."
        ) from e
    try:
        root = nltk.data.find('corpora/wordnet')
    except LookupError as e:
        raise MissingWordNetError(
            "EDA synonyms='wordnet': NLTK's WordNet data is not installed "
            f'(searched {nltk.data.path}). Install it with\n  {WORDNET_FIX}\n'
            "or use synonyms='builtin' (or 'auto', which falls back to it)."
        ) from e
    from nltk.corpus.reader.wordnet import WordNetCorpusReader
    with warnings.catch_warnings():
        # Without the Open Multilingual Wordnet NLTK warns that other
        # languages are unavailable; EDA only needs English lemmas.
        warnings.simplefilter('ignore')
        return WordNetCorpusReader(root, None)


class WordNetSynonyms:
    """Synonyms as EDA takes them from WordNet: the lemma names of every
    synset of the word (any part of speech), ``_`` and ``-`` as spaces,
    cleaned by :func:`clean_caption`. The data is checked on construction.
    """

    name = 'wordnet'

    def __init__(self):
        self._reader = load_wordnet()
        self._cache = {}

    def __call__(self, word: str) -> Tuple[str, ...]:
        if word not in self._cache:
            if self._reader is None:  # unpickled in a dataloader worker
                self._reader = load_wordnet()
            names = {
                clean_caption(lemma.name().replace('_', ' '))
                for synset in self._reader.synsets(word)
                for lemma in synset.lemmas()
            }
            names.discard(word)
            names.discard('')
            # Sorted: EDA's list(set) order changes with PYTHONHASHSEED.
            self._cache[word] = tuple(sorted(names))
        return self._cache[word]

    def __getstate__(self) -> dict:
        # The reader holds open files; each worker reopens its own.
        return dict(_reader=None, _cache={})


def build_synonym_backend(backend: str = 'auto'):
    """Resolve ``'auto'`` | ``'wordnet'`` | ``'builtin'`` to a synonym
    function; ``'auto'`` is WordNet when its data is installed, else the
    builtin table, and logs which one it uses."""
    if backend not in SYNONYM_BACKENDS:
        raise ValueError(f'Unknown EDA synonym backend {backend!r}; '
                         f'expected one of {SYNONYM_BACKENDS}.')
    if backend == 'builtin':
        return BuiltinSynonyms()
    if backend == 'synth_pedes':
        return synth_pedes_synonyms()
    if backend == 'wordnet':
        return WordNetSynonyms()
    try:
        synonyms = WordNetSynonyms()
        why = 'its data is installed'
    except MissingWordNetError:
        synonyms = BuiltinSynonyms()
        why = f'WordNet data is not installed ({WORDNET_FIX} to use it)'
    print_log(f"EDACaption: synonyms='auto' uses {synonyms.name!r}: {why}.",
              logger='current')
    return synonyms


# ----------------------------------------------------------------------
# The four operations. Each takes and returns a list of words.
def synonym_replacement(words: Sequence[str], n: int, synonyms: SynonymFn,
                        rng: random.Random) -> List[str]:
    """Replace up to ``n`` distinct non-stopwords (all their occurrences)
    with a random synonym each; words without synonyms are skipped."""
    candidates = list(dict.fromkeys(w for w in words if w not in STOP_WORDS))
    rng.shuffle(candidates)
    new_words = list(words)
    replaced = 0
    for word in candidates:
        if replaced >= n:
            break
        options = synonyms(word)
        if options:
            synonym = rng.choice(options)
            new_words = [synonym if w == word else w for w in new_words]
            replaced += 1
    # A synonym may be several words ("dressed in").
    return ' '.join(new_words).split()


def random_insertion(words: Sequence[str], n: int, synonyms: SynonymFn,
                     rng: random.Random, max_tries: int = 10) -> List[str]:
    """``n`` times: pick a random non-stopword with synonyms (``max_tries``
    draws, as EDA) and insert a random synonym of it at a random position.

    Unlike EDA's code, and as its paper says, stopwords are not used: with
    WordNet they would insert e.g. "inch" for "in" or "angstrom" for "a".
    """
    new_words = list(words)
    for _ in range(n):
        for _ in range(max_tries):
            word = rng.choice(new_words)
            options = () if word in STOP_WORDS else synonyms(word)
            if options:
                pos = rng.randint(0, len(new_words))
                new_words[pos:pos] = rng.choice(options).split()
                break
    return new_words


def random_swap(words: Sequence[str], n: int,
                rng: random.Random) -> List[str]:
    """Swap the words at two distinct random positions, ``n`` times."""
    new_words = list(words)
    if len(new_words) < 2:
        return new_words
    for _ in range(n):
        i, j = rng.sample(range(len(new_words)), 2)
        new_words[i], new_words[j] = new_words[j], new_words[i]
    return new_words


def random_deletion(words: Sequence[str], p: float,
                    rng: random.Random) -> List[str]:
    """Delete each word with probability ``p``; if all are deleted, keep one
    random word (so a one-word sentence is kept as is)."""
    kept = [w for w in words if rng.random() > p]
    return kept or [rng.choice(words)]


@TRANSFORMS.register_module()
class EDACaption(BaseTransform):
    """Write an EDA copy of ``results['caption']`` to
    ``results['caption_eda']``; the caption itself is left untouched.

    One of the enabled operations (SR, RI, RS, RD; an operation is enabled
    when its rate is > 0) is applied to the cleaned caption, see the module
    docstring. The defaults are APTM's (``pre_caption`` in their
    ``dataset/utils.py``; ``eda: True, eda_p: 1`` in the CUHK-PEDES,
    ICFG-PEDES and RSTPReid configs): every rate 0.1, always applied.

    Randomness: one 64-bit draw from Python's global :mod:`random` seeds a
    private generator per call, so results are reproducible under
    mmengine's seeding (its ``worker_init_fn`` seeds each dataloader worker
    differently) and the number of draws other transforms see does not
    depend on the caption.

    Args:
        alpha_sr (float): Share of words replaced by synonyms.
        alpha_ri (float): Number of insertions, as a share of the words.
        alpha_rs (float): Number of swaps, as a share of the words.
        p_rd (float): Probability of deleting each word.
        prob (float): Probability of augmenting at all (APTM's ``eda_p``);
            otherwise ``caption_eda`` is the caption unchanged.
        synonyms (str): ``'auto'`` (default): WordNet when NLTK's data is
            installed (as APTM), else the builtin table, logged once;
            ``'wordnet'``: NLTK's WordNet, an error saying
            ``python -m nltk.downloader wordnet`` if missing;
            ``'builtin'``: the pedestrian-description table of
            :mod:`~tbps.datasets.transforms.eda_synonyms`;
            ``'synth_pedes'``: the SynthPEDES grammar's interchangeable
            words (its configs: the view stays in its vocabulary).

    A caption without any letter is copied unchanged.
    """

    def __init__(self,
                 alpha_sr: float = 0.1,
                 alpha_ri: float = 0.1,
                 alpha_rs: float = 0.1,
                 p_rd: float = 0.1,
                 prob: float = 1.0,
                 synonyms: str = 'auto'):
        rates = dict(alpha_sr=alpha_sr, alpha_ri=alpha_ri, alpha_rs=alpha_rs,
                     p_rd=p_rd, prob=prob)
        for name, value in rates.items():
            if not 0 <= value <= 1:
                raise ValueError(f'EDACaption: {name} must be in [0, 1], '
                                 f'got {value!r}.')
        self.alpha_sr, self.alpha_ri = alpha_sr, alpha_ri
        self.alpha_rs, self.p_rd, self.prob = alpha_rs, p_rd, prob
        self.ops = tuple(op for op, rate in (('sr', alpha_sr), (
            'ri', alpha_ri), ('rs', alpha_rs), ('rd', p_rd)) if rate > 0)
        if not self.ops:
            raise ValueError('EDACaption: every operation is disabled '
                             '(alpha_sr, alpha_ri, alpha_rs, p_rd all 0); '
                             'drop the transform instead.')
        self.synonyms_backend = synonyms
        self.synonyms = build_synonym_backend(synonyms)

    def augment(self, caption: str, rng: random.Random) -> str:
        """The EDA copy of one caption, drawn from ``rng``."""
        words = clean_caption(caption).split()
        if not words:
            return caption
        op = rng.choice(self.ops)
        num_words = len(words)
        if op == 'sr':
            n = max(1, int(self.alpha_sr * num_words))
            words = synonym_replacement(words, n, self.synonyms, rng)
        elif op == 'ri':
            n = max(1, int(self.alpha_ri * num_words))
            words = random_insertion(words, n, self.synonyms, rng)
        elif op == 'rs':
            n = max(1, int(self.alpha_rs * num_words))
            words = random_swap(words, n, rng)
        else:
            words = random_deletion(words, self.p_rd, rng)
        return ' '.join(words)

    def transform(self, results: dict) -> dict:
        caption = results['caption']
        rng = random.Random(random.getrandbits(64))
        if self.prob < 1 and rng.random() >= self.prob:
            results['caption_eda'] = caption
        else:
            results['caption_eda'] = self.augment(caption, rng)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(alpha_sr={self.alpha_sr}, '
                f'alpha_ri={self.alpha_ri}, alpha_rs={self.alpha_rs}, '
                f'p_rd={self.p_rd}, prob={self.prob}, '
                f'synonyms={self.synonyms_backend!r} -> '
                f'{self.synonyms.name!r})')
