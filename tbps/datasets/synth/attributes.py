"""Appearance factors of SynthPEDES identities and their MALS labels.

An *identity* is a plain ``dict`` assigning a value to every factor in
:data:`FACTORS` (JSON-serialisable, so it can be written next to the
dataset). :func:`sample_identity` draws one, :func:`mutate_identity`
derives a near-duplicate that differs in exactly one factor and
:func:`mals_labels` maps an identity to the 27 MALS attribute labels.

MALS label convention (order of :data:`MALS_ATTRIBUTES`), as APTM's
attribute prompts read it: label ``v`` of attribute ``i`` selects prompt
sentence ``2i + v`` of the pair (:data:`MALS_PROMPTS`). So for a two-sided
attribute ``a/b`` the label is ``0`` for ``a`` and ``1`` for ``b``
(``woman/man``: 0 = woman, 1 = man), and for a presence attribute (hat,
bags, each colour), whose pair is "with X" / "without X" ("wears X" /
"does not wear X"), ``0`` means present and ``1`` absent; ``-1`` means the
attribute cannot be seen in that image (e.g. a hand bag hidden by an
occluder). (Generator version 1.0 wrote presence the other way round.)
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

#: The 27 MALS attributes, in MALS / APTM order.
MALS_ATTRIBUTES = (
    'gender',            # 0 woman, 1 man
    'age',               # 0 younger than 18, 1 older than 18
    'hair_length',       # 0 short, 1 long
    'hat',               # 0 wears a hat, 1 without
    'backpack',          # 0 carries a backpack, 1 without
    'handbag',           # 0 carries a hand bag, 1 without
    'bag',               # 0 carries another bag (shoulder bag), 1 without
    'sleeve_length',     # 0 long sleeves, 1 short sleeves
    'lower_length',      # 0 long lower garment, 1 short
    'lower_type',        # 0 dress or skirt, 1 pants or shorts
    # colours: 0 wears that colour, 1 does not
    'upper_black', 'upper_white', 'upper_red', 'upper_purple',
    'upper_yellow', 'upper_blue', 'upper_green', 'upper_gray',
    'lower_black', 'lower_white', 'lower_purple', 'lower_yellow',
    'lower_blue', 'lower_green', 'lower_pink', 'lower_gray', 'lower_brown',
)
assert len(MALS_ATTRIBUTES) == 27


def _presence(thing: str) -> tuple:
    return f'the person with {thing}', f'the person without {thing}'


def _colour(colour: str, part: str) -> tuple:
    return (f'the person wears {colour} {part} clothes',
            f'the person does not wear {colour} {part} clothes')


#: APTM's 54 attribute prompt sentences, in the authors' order: attribute
#: ``i`` of :data:`MALS_ATTRIBUTES` owns sentences ``2i`` and ``2i + 1``,
#: and its label ``v`` in {0, 1} says which is true.
MALS_PROMPTS = (
    'the person is a woman', 'the person is a man',
    'the person is younger than 18 years old',
    'the person is older than 18 years old',
    'the person with short hair', 'the person with long hair',
    *_presence('a hat'), *_presence('a backpack'), *_presence('a handbag'),
    *_presence('a bag'),
    'the person wears long sleeved upper clothes',
    'the person wears short sleeved upper clothes',
    'the person wears long dress or long pants',
    'the person wears short dress or short pants',
    'the person wears dress or skirt', 'the person wears pants or shorts',
    *(s for c in ('black', 'white', 'red', 'purple', 'yellow', 'blue',
                  'green', 'gray') for s in _colour(c, 'upper')),
    *(s for c in ('black', 'white', 'purple', 'yellow', 'blue', 'green',
                  'pink', 'gray', 'brown') for s in _colour(c, 'lower')),
)
assert len(MALS_PROMPTS) == 2 * len(MALS_ATTRIBUTES)

UPPER_LABEL_COLORS = ('black', 'white', 'red', 'purple', 'yellow', 'blue',
                      'green', 'gray')
LOWER_LABEL_COLORS = ('black', 'white', 'purple', 'yellow', 'blue', 'green',
                      'pink', 'gray', 'brown')

#: Garment colours: name -> base RGB. Chosen far apart so they stay
#: distinguishable after down-sampling and lighting changes.
COLORS = {
    'black': (28, 28, 32),
    'white': (236, 236, 232),
    'gray': (128, 128, 130),
    'red': (205, 30, 35),
    'orange': (240, 125, 20),
    'yellow': (238, 212, 40),
    'green': (40, 150, 55),
    'blue': (35, 70, 205),
    'purple': (125, 45, 165),
    'pink': (245, 140, 185),
    'brown': (115, 70, 35),
}
HAIR_COLORS = {
    'black': (22, 20, 20),
    'brown': (95, 60, 30),
    'blonde': (225, 190, 105),
    'gray': (165, 165, 165),
}
SKIN_TONES = ((245, 210, 180), (225, 180, 140), (180, 130, 90),
              (120, 80, 55))

GARMENT_COLORS = tuple(COLORS)
SHOES_COLORS = ('black', 'white', 'brown', 'gray', 'red', 'blue')
BAG_COLORS = ('black', 'brown', 'red', 'blue', 'gray', 'green', 'yellow',
              'pink', 'white')
HAT_COLORS = ('black', 'white', 'red', 'blue', 'gray', 'green', 'yellow',
              'brown', 'pink', 'orange')

#: Every factor with its possible values. ``hat_color`` and ``bag_color``
#: are always assigned and only matter when a hat / bag is worn, so that
#: adding or removing a hat changes a single factor.
FACTORS = {
    'gender': ('female', 'male'),
    'age': ('child', 'adult'),
    'hair_length': ('short', 'long'),
    'hair_color': tuple(HAIR_COLORS),
    'hat': ('none', 'cap', 'hat'),
    'hat_color': HAT_COLORS,
    'upper_kind': ('shirt', 'jacket', 'coat'),
    'sleeve': ('long', 'short'),
    'upper_color': GARMENT_COLORS,
    'lower_kind': ('trousers', 'shorts', 'skirt', 'dress'),
    'lower_length': ('long', 'short'),
    'lower_color': GARMENT_COLORS,   # ignored for a dress (= upper colour)
    'shoes_color': SHOES_COLORS,
    'bag': ('none', 'backpack', 'handbag', 'shoulder bag'),
    'bag_color': BAG_COLORS,
    'skin': tuple(range(len(SKIN_TONES))),
    'build': (0, 1, 2),              # slim, average, broad
    'appearance_seed': None,         # int: identity-level colour jitter
}

#: Factors that captions can describe (skin tone, build and colour jitter
#: are visual nuisance factors no caption mentions).
DESCRIBED_FACTORS = tuple(
    k for k in FACTORS if k not in ('skin', 'build', 'appearance_seed'))

#: Factors a near-duplicate may change, with sampling weights.
MUTABLE_FACTORS = {
    'upper_color': 0.26, 'lower_color': 0.14, 'bag': 0.16, 'hat': 0.10,
    'sleeve': 0.07, 'lower_length': 0.07, 'hair_color': 0.05,
    'hair_length': 0.04, 'shoes_color': 0.05, 'bag_color': 0.06,
}


def _pick(rng: np.random.Generator, values: Sequence, p=None):
    if p is None:
        return values[int(rng.integers(len(values)))]
    p = np.asarray(p, dtype=float)
    return values[int(rng.choice(len(values), p=p / p.sum()))]


def _normalise(identity: Dict) -> Dict:
    """Make garment factors consistent (fixes sleeve/length per kind)."""
    ident = dict(identity)
    if ident['upper_kind'] in ('jacket', 'coat'):
        ident['sleeve'] = 'long'
    if ident['lower_kind'] == 'trousers':
        ident['lower_length'] = 'long'
    elif ident['lower_kind'] == 'shorts':
        ident['lower_length'] = 'short'
    if ident['lower_kind'] == 'dress':
        ident['upper_kind'] = 'shirt'
        ident['lower_color'] = ident['upper_color']
    return ident


def sample_identity(rng: np.random.Generator) -> Dict:
    """Draw an identity with loosely realistic correlations."""
    gender = _pick(rng, FACTORS['gender'])
    age = _pick(rng, FACTORS['age'], (0.2, 0.8))
    female = gender == 'female'
    hair_length = 'long' if rng.random() < (0.7 if female else 0.12) \
        else 'short'
    hair_p = (0.45, 0.3, 0.2, 0.05 if age == 'adult' else 0.0)
    if female:
        lower_kind = _pick(rng, FACTORS['lower_kind'], (0.45, 0.2, 0.2, 0.15))
    else:
        lower_kind = _pick(rng, ('trousers', 'shorts'), (0.72, 0.28))
    upper_kind = _pick(rng, FACTORS['upper_kind'], (0.6, 0.28, 0.12))
    ident = dict(
        gender=gender,
        age=age,
        hair_length=hair_length,
        hair_color=_pick(rng, FACTORS['hair_color'], hair_p),
        hat=_pick(rng, FACTORS['hat'], (0.75, 0.15, 0.10)),
        hat_color=_pick(rng, HAT_COLORS),
        upper_kind=upper_kind,
        sleeve=_pick(rng, FACTORS['sleeve']),
        upper_color=_pick(rng, GARMENT_COLORS),
        lower_kind=lower_kind,
        lower_length=_pick(rng, FACTORS['lower_length']),
        lower_color=_pick(rng, GARMENT_COLORS),
        shoes_color=_pick(rng, SHOES_COLORS),
        bag=_pick(rng, FACTORS['bag'], (0.35, 0.25, 0.2, 0.2)),
        bag_color=_pick(rng, BAG_COLORS),
        skin=int(rng.integers(len(SKIN_TONES))),
        build=int(rng.integers(3)),
        appearance_seed=int(rng.integers(2**31)),
    )
    return _normalise(ident)


def mutable_options(identity: Dict) -> Dict[str, List]:
    """For each mutable factor, the values that change exactly that factor
    (and still give a consistent identity)."""
    ident = identity
    options = {}
    for name in MUTABLE_FACTORS:
        values = [v for v in FACTORS[name] if v != ident[name]]
        if name == 'sleeve' and ident['upper_kind'] != 'shirt':
            values = []
        if name == 'lower_length' and ident['lower_kind'] in ('trousers',
                                                              'shorts'):
            values = []
        if name == 'lower_color' and ident['lower_kind'] == 'dress':
            values = []
        if name == 'hat_color' and ident['hat'] == 'none':
            values = []
        if name == 'bag_color' and ident['bag'] == 'none':
            values = []
        if name == 'hair_color' and ident['age'] == 'child':
            values = [v for v in values if v != 'gray']
        if values:
            options[name] = values
    return options


def mutate_identity(identity: Dict, rng: np.random.Generator):
    """A near-duplicate of ``identity`` differing in exactly one factor.

    Returns:
        tuple[dict, str]: the new identity and the changed factor's name.
    """
    options = mutable_options(identity)
    names = sorted(options)
    weights = [MUTABLE_FACTORS[n] for n in names]
    name = _pick(rng, names, weights)
    new = dict(identity)
    new[name] = _pick(rng, options[name])
    if name == 'upper_color' and new['lower_kind'] == 'dress':
        new['lower_color'] = new['upper_color']   # a dress has one colour
    return new, name


def effective_identity(identity: Dict) -> Dict:
    """The identity with factors that have no visible effect set to None
    (used to tell identities apart)."""
    ident = dict(identity)
    ident.pop('appearance_seed', None)
    if ident['hat'] == 'none':
        ident['hat_color'] = None
    if ident['bag'] == 'none':
        ident['bag_color'] = None
    return ident


def differing_factors(a: Dict, b: Dict) -> List[str]:
    """Names of the factors in which two identities differ.

    A dress's ``lower_color`` is derived from its ``upper_color`` and is
    therefore not counted separately.
    """
    names = []
    for k in FACTORS:
        if k == 'lower_color' and a['lower_kind'] == b['lower_kind'] == \
                'dress':
            continue
        if a[k] != b[k]:
            names.append(k)
    return names


def mals_labels(identity: Dict,
                hidden: Optional[Sequence[str]] = ()) -> List[int]:
    """27 MALS labels (see module docstring) of an identity.

    Args:
        identity (dict): factor assignment.
        hidden (Sequence[str]): parts not visible in the image:
            ``'bag'`` (all bag labels become -1) and/or ``'lower_length'``
            (the legs are hidden: lower length becomes -1).
    """
    ident = identity
    bag = ident['bag']

    def absent(present: bool) -> int:  # presence pairs: 0 with, 1 without
        return int(not present)

    lab = {
        'gender': int(ident['gender'] == 'male'),
        'age': int(ident['age'] == 'adult'),
        'hair_length': int(ident['hair_length'] == 'long'),
        'hat': absent(ident['hat'] != 'none'),
        'backpack': absent(bag == 'backpack'),
        'handbag': absent(bag == 'handbag'),
        'bag': absent(bag == 'shoulder bag'),
        'sleeve_length': int(ident['sleeve'] == 'short'),
        'lower_length': int(ident['lower_length'] == 'short'),
        'lower_type': int(ident['lower_kind'] in ('trousers', 'shorts')),
    }
    for c in UPPER_LABEL_COLORS:
        lab[f'upper_{c}'] = absent(ident['upper_color'] == c)
    for c in LOWER_LABEL_COLORS:
        lab[f'lower_{c}'] = absent(ident['lower_color'] == c)
    if 'bag' in hidden:
        lab.update(backpack=-1, handbag=-1, bag=-1)
    if 'lower_length' in hidden:
        lab.update(lower_length=-1)
    return [lab[name] for name in MALS_ATTRIBUTES]
