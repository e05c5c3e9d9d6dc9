"""Word-level tokenisation over a vocabulary built from training captions
(TextReID's BiGRU input)."""
import os.path as osp
import string
from collections import Counter
from typing import Dict, Iterable, List, Sequence

import torch

from tbps.registry import TOKENIZERS

PAD, UNK = '<pad>', '<unk>'
_STRIP = str.maketrans('', '', string.punctuation)


def split_words(text: str) -> List[str]:
    """Lower-case, delete punctuation, split on white space (TextReID's
    caption processing: "t-shirt," -> "tshirt")."""
    return text.lower().translate(_STRIP).split()


def build_word_vocab(captions: Iterable[str], min_count: int = 3
                     ) -> List[str]:
    """``[<pad>, <unk>]`` + the words seen at least ``min_count`` times,
    most frequent first (ties alphabetical). TextReID keeps words seen more
    than twice (``min_count=3``), counted over all splits; count the
    training captions only, so no test word leaks into the model."""
    counts = Counter(w for text in captions for w in split_words(text))
    words = sorted((w for w, c in counts.items() if c >= min_count),
                   key=lambda w: (-counts[w], w))
    return [PAD, UNK] + words


@TOKENIZERS.register_module()
class WordTokenizer:
    """Caption -> word ids of ``vocab_file`` (one word a line, id = line
    number; line 0 ``<pad>``, line 1 ``<unk>`` for words not in it).

    Make the file from a config's training captions with
    ``python tools/dataset_converters/build_word_vocab.py CONFIG``.

    Args:
        vocab_file (str): The vocabulary.
        max_length (int): Words kept per caption (100 in TextReID).
    """

    def __init__(self, vocab_file: str, max_length: int = 100):
        if not osp.isfile(vocab_file):
            raise FileNotFoundError(
                f'Word vocabulary {vocab_file!r} not found. Build it from '
                'the training captions: python tools/dataset_converters/'
                'build_word_vocab.py CONFIG (it writes the path the config '
                'names).')
        with open(vocab_file, encoding='utf-8') as f:
            words = [line.rstrip('\n') for line in f]
        if words[:2] != [PAD, UNK]:
            raise ValueError(f'{vocab_file}: the first two lines must be '
                             f'{PAD} and {UNK}; rebuild it with '
                             'tools/dataset_converters/build_word_vocab.py.')
        self.vocab_file = vocab_file
        self.max_length = max_length
        self.words = words
        self.ids: Dict[str, int] = {w: i for i, w in enumerate(words)}

    def __call__(self, texts: Sequence[str]) -> Dict[str, torch.Tensor]:
        """-> ``input_ids``, ``attention_mask`` [B, L] (L = longest caption,
        at least 1; padding on the right)."""
        if isinstance(texts, str):
            texts = [texts]
        unk = self.ids[UNK]
        rows = [[self.ids.get(w, unk) for w in split_words(t)]
                [:self.max_length] or [unk] for t in texts]
        length = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), length, dtype=torch.long)
        mask = torch.zeros(len(rows), length, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1
        return dict(input_ids=ids, attention_mask=mask)

    @property
    def vocab_size(self) -> int:
        return len(self.words)

    @property
    def vocabulary(self) -> List[str]:
        return list(self.words)

    @property
    def pad_token_id(self) -> int:
        return 0

    @property
    def special_token_ids(self) -> List[int]:
        return [0]

    def decode(self, ids) -> str:
        return ' '.join(self.words[int(i)] for i in ids if int(i) != 0)
