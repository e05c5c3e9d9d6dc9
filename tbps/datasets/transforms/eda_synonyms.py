"""The builtin synonym table of :class:`~tbps.datasets.transforms.EDACaption`.

An offline stand-in for WordNet in the vocabulary of pedestrian
descriptions: people, clothing, accessories, colours and the verbs and
adjectives annotators use. Words of a group are interchangeable in a
caption ("a lady in grey trousers" / "a woman in gray pants"), so every
member lists the others; :data:`ONE_WAY` holds replacements that are only
safe in one direction ("elderly" -> "old", but not "old shoes" ->
"elderly shoes"). Broader or narrower terms are left out (a handbag is a
bag, a bag is not a handbag; a top is not always a shirt).

Keys are single words in EDA's cleaned form (lower case, letters only:
"t-shirt" is cleaned to the two words "t shirt"); a synonym may be several
words ("dressed in").
"""
from typing import Dict, Iterable, Tuple

#: Interchangeable words; singular and plural forms are separate groups.
SYNONYM_GROUPS: Tuple[Tuple[str, ...], ...] = (
    # People
    ('man', 'gentleman', 'guy'),
    ('men', 'gentlemen', 'guys'),
    ('woman', 'lady'),
    ('women', 'ladies'),
    ('girl', 'lass'),
    ('boy', 'lad'),
    ('person', 'individual'),
    ('persons', 'individuals'),
    ('child', 'kid'),
    ('children', 'kids'),
    ('teenager', 'teen', 'adolescent'),
    ('teenagers', 'teens', 'adolescents'),
    ('baby', 'infant'),
    # Upper body
    ('tshirt', 'tee', 'tee shirt', 't shirt'),
    ('tshirts', 'tees', 'tee shirts', 't shirts'),
    ('jacket', 'coat'),
    ('jackets', 'coats'),
    ('overcoat', 'topcoat'),
    ('blazer', 'sports jacket'),
    ('sweater', 'jumper', 'pullover'),
    ('sweaters', 'jumpers', 'pullovers'),
    ('hoodie', 'hoody', 'hooded sweatshirt'),
    ('windbreaker', 'windcheater'),
    ('dress', 'frock'),
    ('dresses', 'frocks'),
    # Lower body
    ('trousers', 'pants', 'slacks'),
    ('jeans', 'denims'),
    ('shorts', 'short pants'),
    ('sweatpants', 'joggers', 'track pants'),
    ('overalls', 'dungarees'),
    ('tights', 'pantyhose'),
    # Footwear
    ('sneakers', 'trainers', 'athletic shoes', 'tennis shoes'),
    ('sneaker', 'athletic shoe'),
    ('shoes', 'footwear'),
    # Accessories and belongings
    ('backpack', 'rucksack', 'knapsack'),
    ('backpacks', 'rucksacks', 'knapsacks'),
    ('handbag', 'purse'),
    ('handbags', 'purses'),
    ('luggage', 'baggage'),
    ('stroller', 'pram', 'pushchair'),
    ('umbrella', 'brolly'),
    ('glasses', 'spectacles', 'eyeglasses'),
    ('cellphone', 'cell phone', 'mobile phone'),
    ('phone', 'cellphone', 'mobile phone'),
    ('bicycle', 'bike'),
    ('bicycles', 'bikes'),
    ('motorcycle', 'motorbike'),
    ('mustache', 'moustache'),
    ('ponytail', 'pony tail'),
    ('hairstyle', 'hairdo'),
    ('clothes', 'clothing', 'garments', 'attire', 'apparel'),
    ('outfit', 'attire', 'ensemble'),
    # Colours and patterns
    ('gray', 'grey'),
    ('grayish', 'greyish'),
    ('color', 'colour'),
    ('colors', 'colours'),
    ('colored', 'coloured'),
    ('multicolored', 'multicoloured', 'multicolor', 'multicolour'),
    ('colorful', 'colourful'),
    ('light', 'pale'),
    ('bright', 'vivid'),
    ('blonde', 'blond'),
    ('striped', 'stripy'),
    ('plaid', 'tartan'),
    ('checkered', 'chequered'),
    ('plain', 'solid'),
    # Verbs
    ('wearing', 'dressed in', 'clad in'),
    ('wears', 'has on'),
    ('wear', 'have on'),
    ('wore', 'had on'),
    ('dressed', 'clad'),
    ('carrying', 'toting'),
    ('carries', 'totes'),
    ('carry', 'tote'),
    ('walking', 'strolling'),
    ('walks', 'strolls'),
    ('pulling', 'dragging'),
    ('pulls', 'drags'),
    ('talking', 'speaking'),
    ('talks', 'speaks'),
    ('hurrying', 'rushing'),
    ('appears', 'seems'),
    ('appear', 'seem'),
    # Adjectives
    ('big', 'large'),
    ('bigger', 'larger'),
    ('thin', 'slim', 'slender'),
    ('fat', 'overweight'),
    ('young', 'youthful'),
    ('casual', 'informal'),
    ('fashionable', 'stylish', 'trendy'),
    ('slightly', 'somewhat'),
)

#: Replacements valid in one direction only: key -> synonyms.
ONE_WAY: Dict[str, Tuple[str, ...]] = {
    'carrying': ('holding', ),  # "holding a bag"; not "carrying a hand"
    'holding': ('carrying', 'grasping'),
    'holds': ('carries', 'grasps'),
    'elderly': ('old', 'aged'),
    'pedestrian': ('person', ),
    'pedestrians': ('people', ),
    'small': ('little', ),  # "a little long" is an adverb
    'wristwatch': ('watch', ),  # "watch" is also a verb
    'heels': ('high heels', ),
    'bald': ('hairless', ),
    'navy': ('navy blue', ),
    'sunglasses': ('shades', ),  # "shades of blue"
    'baggy': ('loose', ),  # "loose hair"
}


def build_synonym_table(
        groups: Iterable[Iterable[str]] = SYNONYM_GROUPS,
        one_way: Dict[str, Iterable[str]] = ONE_WAY
) -> Dict[str, Tuple[str, ...]]:
    """Word -> sorted tuple of its synonyms (never the word itself).

    Every single-word member of a group maps to all other members;
    multi-word members ("dressed in") are synonyms only, never keys, since
    EDA looks words up one at a time.
    """
    table: Dict[str, set] = {}
    for group in groups:
        group = tuple(group)
        for word in group:
            if ' ' not in word:
                table.setdefault(word, set()).update(
                    w for w in group if w != word)
    for word, synonyms in one_way.items():
        table.setdefault(word, set()).update(
            w for w in synonyms if w != word)
    return {word: tuple(sorted(syns)) for word, syns in table.items()}


#: The table the ``'builtin'`` backend uses.
BUILTIN_SYNONYMS: Dict[str, Tuple[str, ...]] = build_synonym_table()
