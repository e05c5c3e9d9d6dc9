"""Caption grammar of SynthPEDES.

:func:`make_caption` describes the visible attributes of one image in
lower-case English with paraphrases: synonyms (``trousers`` / ``pants``),
optional details (sleeve length, hair colour), different clause orders
and sentence templates. Each caption mentions most, not all, of the
visible attributes. Attributes are always written as noun phrases
(``a red shirt``, ``long black hair``, ``a blue backpack``) so that a
phrase parser can find them.

Every word the grammar can emit is listed in the tables of this module;
:func:`grammar_vocabulary` collects them and
``python -m tbps.datasets.synth.captions --write-vocab`` regenerates the
packaged ``vocab.txt``.
"""
import argparse
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import VOCAB_FILE
from .attributes import MALS_PROMPTS

SPECIAL_TOKENS = ('[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]')
PUNCTUATION = (',', '.')

COLOR_WORDS = {
    'black': ('black', ), 'white': ('white', ), 'gray': ('gray', 'grey'),
    'red': ('red', ), 'orange': ('orange', ), 'yellow': ('yellow', ),
    'green': ('green', ), 'blue': ('blue', ), 'purple': ('purple', ),
    'pink': ('pink', ), 'brown': ('brown', ),
}
HAIR_COLOR_WORDS = {
    'black': ('black', 'dark'), 'brown': ('brown', ),
    'blonde': ('blonde', 'blond'), 'gray': ('gray', 'grey'),
}
SUBJECT_NOUNS = {
    ('female', 'adult'): ('woman', 'lady', 'young woman'),
    ('male', 'adult'): ('man', 'guy', 'young man'),
    ('female', 'child'): ('girl', 'little girl', 'young girl'),
    ('male', 'child'): ('boy', 'little boy', 'young boy'),
    (None, 'adult'): ('person', 'pedestrian', 'adult'),
    (None, 'child'): ('child', 'kid'),
}
SUBJECT_DETERMINERS = ('a', 'the', 'this')
PRONOUNS = {'female': ('she', 'her'), 'male': ('he', 'his'),
            None: ('the person', 'their')}
CHILD_PRONOUN = 'the child'
UPPER_NOUNS = {
    ('shirt', 'long'): ('shirt', 'top', 'sweater'),
    ('shirt', 'short'): ('shirt', 'top'),
    ('jacket', 'long'): ('jacket', ),
    ('coat', 'long'): ('coat', 'long coat', 'overcoat'),
}
FEMALE_UPPER_NOUNS = ('blouse', )
SLEEVE_PRE = {'long': 'long sleeved', 'short': 'short sleeved'}
SLEEVE_POST = {'long': 'with long sleeves', 'short': 'with short sleeves'}
LOWER_NOUNS = {
    'trousers': ('trousers', 'pants', 'long pants'),
    'shorts': ('shorts', 'short pants'),
    'skirt': ('skirt', ),
    'dress': ('dress', ),
}
LENGTH_WORDS = {'long': 'long', 'short': 'short'}
PAIR_OF = 'a pair of'
SHOES_NOUNS = ('shoes', 'sneakers')
HAT_NOUNS = {'cap': ('cap', 'baseball cap'), 'hat': ('hat', 'sun hat')}
BAG_NOUNS = {
    'backpack': ('backpack', 'rucksack'),
    'handbag': ('handbag', 'purse'),
    'shoulder bag': ('shoulder bag', 'messenger bag', 'crossbody bag'),
}
BAG_PLACES = {  # "a red bag over her shoulder"
    'backpack': 'bag on {poss} back',
    'handbag': 'bag in {poss} hand',
    'shoulder bag': 'bag over {poss} shoulder',
}
WEAR_FINITE = ('is wearing', 'wears', 'is dressed in', 'has on')
WEAR_ALSO = ('also wears', 'is also wearing', 'also has on')
WEAR_PARTICIPLE = ('wearing', 'in', 'dressed in')
HAIR_FINITE = ('has', )
HAIR_PARTICIPLE = ('with', )
CARRY_FINITE = {
    'backpack': ('is carrying', 'carries', 'has'),
    'handbag': ('is carrying', 'carries', 'is holding', 'holds'),
    'shoulder bag': ('is carrying', 'carries', 'has'),
}
CARRY_PARTICIPLE = {
    'backpack': ('carrying', 'with'),
    'handbag': ('carrying', 'holding', 'with'),
    'shoulder bag': ('carrying', 'with'),
}
NO_BAG_FINITE = ('is not carrying a bag', 'carries no bag', 'has no bag')
NO_BAG_PARTICIPLE = ('without a bag', 'with no bag', 'carrying nothing')
MOTION = ('is walking', 'is standing', 'walks')
CONNECTIVES = ('and', 'also')

#: Words the grammar uses interchangeably for one value (each pair comes
#: from one tuple above): the synonyms of EDA on SynthPEDES
#: (``EDACaption(synonyms='synth_pedes')``), so augmented captions stay in
#: the SynthPEDES vocabulary and keep their meaning.
SYNONYM_GROUPS = (('gray', 'grey'), ('blonde', 'blond'), ('woman', 'lady'),
                  ('man', 'guy'), ('child', 'kid'),
                  ('person', 'pedestrian'), ('shirt', 'top'),
                  ('trousers', 'pants'), ('shoes', 'sneakers'),
                  ('backpack', 'rucksack'), ('handbag', 'purse'))

#: Caption words that imply an attribute label (used by tests and
#: analysis): word -> (MALS attribute name, label); presence labels are 0
#: (see :mod:`tbps.datasets.synth.attributes`).
ATTRIBUTE_KEYWORDS = {
    'backpack': ('backpack', 0), 'rucksack': ('backpack', 0),
    'handbag': ('handbag', 0), 'purse': ('handbag', 0),
    'shoulder': ('bag', 0), 'messenger': ('bag', 0),
    'crossbody': ('bag', 0), 'hat': ('hat', 0), 'cap': ('hat', 0),
    'woman': ('gender', 0), 'lady': ('gender', 0), 'girl': ('gender', 0),
    'man': ('gender', 1), 'guy': ('gender', 1), 'boy': ('gender', 1),
    'skirt': ('lower_type', 0), 'dress': ('lower_type', 0),
    'trousers': ('lower_type', 1), 'shorts': ('lower_type', 1),
}

_LEXICON = (COLOR_WORDS, HAIR_COLOR_WORDS, SUBJECT_NOUNS,
            SUBJECT_DETERMINERS, PRONOUNS, CHILD_PRONOUN, UPPER_NOUNS,
            FEMALE_UPPER_NOUNS, SLEEVE_PRE, SLEEVE_POST, LOWER_NOUNS,
            LENGTH_WORDS, PAIR_OF, SHOES_NOUNS, HAT_NOUNS, BAG_NOUNS,
            BAG_PLACES, WEAR_FINITE, WEAR_ALSO, WEAR_PARTICIPLE,
            HAIR_FINITE, HAIR_PARTICIPLE, CARRY_FINITE, CARRY_PARTICIPLE,
            NO_BAG_FINITE, NO_BAG_PARTICIPLE, MOTION, CONNECTIVES,
            'a an hair')


def _pick(rng: np.random.Generator, seq: Sequence):
    return seq[int(rng.integers(len(seq)))]


def _with_article(words: str) -> str:
    return ('an ' if words[0] in 'aeiou' else 'a ') + words


def _coord(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) == 1:
        return items[0]
    return ', '.join(items[:-1]) + ' and ' + items[-1]


# ----------------------------------------------------------------------
# Noun phrases
def _color(rng, name):
    return _pick(rng, COLOR_WORDS[name])


def _colored(color: str, noun: str) -> str:
    """``red`` + ``long coat`` -> ``long red coat`` (length first)."""
    first, _, rest = noun.partition(' ')
    if rest and first in LENGTH_WORDS.values():
        return f'{first} {color} {rest}'
    return f'{color} {noun}'


def hair_phrase(ident, rng) -> str:
    """``long black hair``, ``short hair`` or ``blonde hair``."""
    length = rng.random() < 0.8
    color = rng.random() < 0.85 or not length
    words = []
    if length:
        words.append(LENGTH_WORDS[ident['hair_length']])
    if color:
        words.append(_pick(rng, HAIR_COLOR_WORDS[ident['hair_color']]))
    return ' '.join(words + ['hair'])


def hat_phrase(ident, rng) -> str:
    return _with_article(_color(rng, ident['hat_color']) + ' ' +
                         _pick(rng, HAT_NOUNS[ident['hat']]))


def upper_phrase(ident, rng, length_visible: bool = True) -> str:
    """The upper garment, or the whole dress."""
    sleeve = ident['sleeve']
    color = _color(rng, ident['upper_color'])
    if ident['lower_kind'] == 'dress':
        noun = 'dress'
        if rng.random() < 0.7 and length_visible:
            noun = LENGTH_WORDS[ident['lower_length']] + ' ' + color + ' ' \
                + noun
        else:
            noun = color + ' ' + noun
    else:
        nouns = UPPER_NOUNS[(ident['upper_kind'], sleeve)]
        if ident['gender'] == 'female' and ident['upper_kind'] == 'shirt':
            nouns = nouns + FEMALE_UPPER_NOUNS
        noun = _colored(color, _pick(rng, nouns))
    has_sleeve_word = ident['upper_kind'] == 'shirt'
    r = rng.random()
    if has_sleeve_word and r < 0.35 and not noun.startswith(('long ',
                                                             'short ')):
        return _with_article(SLEEVE_PRE[sleeve] + ' ' + noun)
    if has_sleeve_word and r < 0.7:
        return _with_article(noun) + ' ' + SLEEVE_POST[sleeve]
    return _with_article(noun)


def lower_phrase(ident, rng, length_visible: bool = True) -> str:
    """Trousers, shorts or skirt (a dress is described by
    :func:`upper_phrase`)."""
    kind = ident['lower_kind']
    color = _color(rng, ident['lower_color'])
    noun = _pick(rng, LOWER_NOUNS[kind])
    if kind == 'skirt':
        if rng.random() < 0.75 and length_visible:
            return _with_article(LENGTH_WORDS[ident['lower_length']] + ' ' +
                                 color + ' ' + noun)
        return _with_article(color + ' ' + noun)
    if rng.random() < 0.3:
        return PAIR_OF + ' ' + _colored(color, noun)
    return _colored(color, noun)


def shoes_phrase(ident, rng) -> str:
    phrase = _color(rng, ident['shoes_color']) + ' ' + _pick(rng, SHOES_NOUNS)
    return PAIR_OF + ' ' + phrase if rng.random() < 0.25 else phrase


def bag_phrase(ident, rng, poss: str) -> str:
    bag = ident['bag']
    color = _color(rng, ident['bag_color'])
    if rng.random() < 0.2:
        return _with_article(color + ' ' +
                             BAG_PLACES[bag].format(poss=poss))
    nouns = BAG_NOUNS[bag]
    if bag == 'handbag' and ident['gender'] != 'female':
        nouns = nouns[:1]
    return _with_article(color + ' ' + _pick(rng, nouns))


# ----------------------------------------------------------------------
# Clauses and sentences
class _Unit:
    """A verb phrase with a finite and a participial form."""

    def __init__(self, kind, finite, participle):
        self.kind, self.finite, self.participle = kind, finite, participle


def _choose_units(ident, rng, hidden, poss) -> List[_Unit]:
    wear = []
    if ident['hat'] != 'none' and rng.random() < 0.85:
        wear.append(hat_phrase(ident, rng))
    # Hidden legs: no length words, and trousers / shorts (whose names
    # give the length) are not mentioned at all.
    length_visible = 'lower_length' not in hidden
    show_upper = rng.random() < 0.95
    show_lower = rng.random() < 0.9 and (
        ident['lower_kind'] == 'skirt' or length_visible and
        ident['lower_kind'] != 'dress')
    show_hair = rng.random() < 0.75
    if not (show_upper or show_lower):
        show_upper = True
    if show_upper:
        wear.append(upper_phrase(ident, rng, length_visible))
    if show_lower:
        wear.append(lower_phrase(ident, rng, length_visible))
    if 'shoes' not in hidden and rng.random() < 0.55:
        wear.append(shoes_phrase(ident, rng))
    if len(wear) > 2 and rng.random() < 0.25:
        j = int(rng.integers(len(wear)))
        wear.insert(0, wear.pop(j))  # unusual order now and then
    units = []
    if len(wear) >= 3 and rng.random() < 0.3:
        cut = int(rng.integers(1, len(wear)))
        first, second = wear[:cut], wear[cut:]
        units.append(_Unit('wear', _pick(rng, WEAR_FINITE) + ' ' +
                           _coord(first), _pick(rng, WEAR_PARTICIPLE) +
                           ' ' + _coord(first)))
        units.append(_Unit('wear2', _pick(rng, WEAR_ALSO) + ' ' +
                           _coord(second), _pick(rng, WEAR_PARTICIPLE) +
                           ' ' + _coord(second)))
    else:
        units.append(_Unit('wear', _pick(rng, WEAR_FINITE) + ' ' +
                           _coord(wear), _pick(rng, WEAR_PARTICIPLE) + ' ' +
                           _coord(wear)))
    if show_hair or len(wear) < 2:
        hair = hair_phrase(ident, rng)
        units.append(_Unit('hair', _pick(rng, HAIR_FINITE) + ' ' + hair,
                           _pick(rng, HAIR_PARTICIPLE) + ' ' + hair))
    bag = ident['bag']
    if 'bag' not in hidden:
        if bag != 'none' and rng.random() < 0.85:
            phrase = bag_phrase(ident, rng, poss)
            units.append(_Unit('bag', _pick(rng, CARRY_FINITE[bag]) + ' ' +
                               phrase, _pick(rng, CARRY_PARTICIPLE[bag]) +
                               ' ' + phrase))
        elif bag == 'none' and rng.random() < 0.2:
            units.append(_Unit('nobag', _pick(rng, NO_BAG_FINITE),
                               _pick(rng, NO_BAG_PARTICIPLE)))
    # Clause order: usually clothes first, otherwise shuffled.
    if rng.random() < 0.4:
        order = rng.permutation(len(units))
        units = [units[i] for i in order]
        # "also wears" must not come before the first "wears"
        kinds = [u.kind for u in units]
        if 'wear2' in kinds and kinds.index('wear2') < kinds.index('wear'):
            i, j = kinds.index('wear2'), kinds.index('wear')
            units[i], units[j] = units[j], units[i]
    return units


def _subject(ident, rng):
    gender = ident['gender'] if rng.random() < 0.85 else None
    noun = _pick(rng, SUBJECT_NOUNS[(gender, ident['age'])])
    det = _pick(rng, SUBJECT_DETERMINERS)
    subj = _with_article(noun) if det == 'a' else det + ' ' + noun
    pron, poss = PRONOUNS[gender]
    if gender is None and ident['age'] == 'child':
        pron = CHILD_PRONOUN
    return subj, pron, poss


def make_caption(ident: Dict, rng: np.random.Generator,
                 hidden: Optional[Sequence[str]] = ()) -> str:
    """One caption of an image of ``ident``.

    Args:
        ident (dict): identity factors (see :mod:`.attributes`).
        rng (np.random.Generator): caption randomness.
        hidden (Sequence[str]): parts not visible in the image
            (``'shoes'``, ``'lower_length'``, ``'bag'``); never mentioned.
    """
    subj, pron, poss = _subject(ident, rng)
    units = _choose_units(ident, rng, hidden, poss)
    style = rng.choice(['list', 'multi', 'participle', 'with'],
                       p=[0.3, 0.3, 0.25, 0.15])
    hair = [u for u in units if u.kind == 'hair']
    if style == 'with' and hair:
        rest = [u.finite for u in units if u.kind != 'hair']
        if not rest:
            rest = [_pick(rng, MOTION)]
        return f'{subj} {hair[0].participle} {_coord(rest)}.'
    if style == 'participle' and not any(u.kind == 'wear2' for u in units):
        parts = [u.participle for u in units]
        return f'{subj} ' + ', '.join(parts) + '.'
    if style == 'multi' and len(units) > 1:
        sentences = [f'{subj} {units[0].finite}.']
        for k, u in enumerate(units[1:]):
            sentences.append(f'{pron} {u.finite}.')
        return ' '.join(sentences)
    if rng.random() < 0.1:
        return f'{subj} {_pick(rng, MOTION)}. {pron} ' + \
            _coord([u.finite for u in units]) + '.'
    return f'{subj} ' + _coord([u.finite for u in units]) + '.'


def tokenize(caption: str) -> List[str]:
    """Words and punctuation of a caption (what the vocabulary covers)."""
    return caption.replace(',', ' , ').replace('.', ' . ').split()


def processed_tokens(caption: str) -> List[str]:
    """CUHK-PEDES style ``processed_tokens``: the words, no punctuation."""
    return [t for t in tokenize(caption) if t not in PUNCTUATION]


# ----------------------------------------------------------------------
# Vocabulary
def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):  # keys are attribute values, not words
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (tuple, list)):
        for v in obj:
            yield from _strings(v)


def grammar_vocabulary() -> List[str]:
    """Every word and punctuation mark the grammar can emit and every word
    of APTM's attribute prompts (:data:`~tbps.datasets.synth.attributes.
    MALS_PROMPTS`), sorted."""
    words = set(PUNCTUATION)
    for s in [*_strings(_LEXICON), *MALS_PROMPTS]:
        words.update(w for w in s.replace('{poss}', ' ').split())
    return sorted(words)


def vocab_lines() -> List[str]:
    """Lines of ``vocab.txt``: special tokens, then the sorted words."""
    return list(SPECIAL_TOKENS) + grammar_vocabulary()


def write_vocab(path: str = VOCAB_FILE) -> str:
    with open(path, 'w', encoding='utf-8', newline='\n') as f:
        f.write('\n'.join(vocab_lines()) + '\n')
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--write-vocab', nargs='?', const=VOCAB_FILE,
                        metavar='PATH', help='(re)write vocab.txt '
                        f'(default: {VOCAB_FILE})')
    parser.add_argument('--samples', type=int, default=0,
                        help='print this many random captions')
    args = parser.parse_args(argv)
    if args.write_vocab:
        print(f'wrote {len(vocab_lines())} tokens to '
              f'{write_vocab(args.write_vocab)}')
    if args.samples:
        from .attributes import sample_identity
        rng = np.random.default_rng(0)
        for _ in range(args.samples):
            print(make_caption(sample_identity(rng), rng))


if __name__ == '__main__':
    main()
