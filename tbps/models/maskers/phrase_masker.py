"""Mask Phrase Modeling (LAIP): mask one word of each noun phrase."""
import inspect
import re
import string
from typing import Dict, List, Optional, Sequence

import torch

from tbps.registry import MODELS
from .random_word_masker import mask_chosen, random_token_ids

#: Determiners, possessives and conjunctions a noun phrase may contain
#: (see ``tbps.datasets.phrases.PHRASE_GRAMMAR``); never masked while the
#: phrase has another word.
FUNCTION_WORDS = frozenset({
    'a', 'an', 'the', 'this', 'that', 'these', 'those', 'some', 'any',
    'each', 'every', 'both', 'all', 'another', 'no', 'such', 'his', 'her',
    'their', 'its', 'my', 'your', 'our', 'and', 'or', 'of'
})


def _accepts_word_ids(tokenizer) -> bool:
    try:
        params = inspect.signature(tokenizer.__call__).parameters
    except (TypeError, ValueError):
        return True  # cannot tell; the call itself will say
    return 'return_word_ids' in params or any(
        p.kind is p.VAR_KEYWORD for p in params.values())


def locate_phrases(caption: str, phrases: Sequence[str]) -> List[tuple]:
    """``(phrase, start)`` per phrase: its character offset in the caption,
    searched after the previous phrase (phrases come in caption order, a
    repeated phrase is its next occurrence); -1 where it is not found."""
    located, cursor = [], 0
    for phrase in phrases:
        start = caption.find(phrase, cursor)
        if start < 0:
            start = caption.find(phrase)
        else:
            cursor = start + len(phrase)
        located.append((phrase, start))
    return located


@MODELS.register_module()
class PhraseMasker:
    """Mask one word of every noun phrase of a caption, each phrase in a
    row of its own (MPM).

    Per phrase row (every phrase of the caption, or ``phrases_per_caption``
    of them): the phrase is tokenised alone; one *word* of it, a whitespace-separated word of
    the phrase text as the phrase parser produced it (``"t-shirt"``,
    ``"cardigan"``), is drawn uniformly among its content words and all of
    its sub-tokens are masked. Content words exclude
    :data:`FUNCTION_WORDS` (``"a"``, ``"the"``, ``"her"``, ``"and"``...)
    and punctuation; a phrase made only of such words falls back to any
    word. Masked sub-tokens become the mask id (``mask_token_ratio``), a
    random token (``random_token_ratio``) or stay unchanged (the rest); MPM
    masks them all (``1.0``).

    ``context`` says what a row holds: ``'phrase'`` (LAIP: the fusion
    encoder sees the image and the masked phrase alone) or ``'caption'``
    (the whole caption with the same word of the phrase masked: a control
    that keeps MPM's choice of words and changes what the fusion encoder
    reads; its rows carry no ``phrase_texts``, so BidirAtt does not read
    them).

    A sample whose phrase list is empty gets a dummy row: the empty
    string's tokens (specials only), ``valid=False``, labels all -100 and
    ``word_index = phrase_index = -1``; callers drop it with ``valid``.

    Args:
        tokenizer: A tbps tokenizer supporting ``return_word_ids=True``
            (e.g. ``BertTokenizer``).
        mask_token_ratio (float): Share of masked sub-tokens set to the mask
            id.
        random_token_ratio (float): Share set to a random token.
        function_words (Sequence[str]): Lower-case words not masked while
            the phrase has another word.
        phrases_per_caption (int, optional): Phrases masked per caption,
            each in a row (a masked copy) of its own: ``None`` = every
            phrase (LAIP's Eq. 12 sums over all noun phrases), ``k`` = k
            drawn without replacement (a cap on the cost; 1 = one phrase
            per caption and step).
        context (str): ``'phrase'`` (rows are the masked phrases) or
            ``'caption'`` (rows are the captions, one per phrase, with
            that phrase's word masked).
    """

    CONTEXTS = ('phrase', 'caption')

    def __init__(self, tokenizer, mask_token_ratio: float = 1.0,
                 random_token_ratio: float = 0.0,
                 function_words: Sequence[str] = FUNCTION_WORDS,
                 phrases_per_caption: Optional[int] = None,
                 context: str = 'phrase'):
        if context not in self.CONTEXTS:
            raise ValueError(f'context must be one of {self.CONTEXTS}, got '
                             f'{context!r}.')
        self.context = context
        if (min(mask_token_ratio, random_token_ratio) < 0
                or mask_token_ratio + random_token_ratio > 1):
            raise ValueError('mask_token_ratio and random_token_ratio must be '
                             'non-negative with a sum <= 1, got '
                             f'{mask_token_ratio} and {random_token_ratio}.')
        if not _accepts_word_ids(tokenizer):
            raise TypeError(
                f'PhraseMasker needs a tokenizer that supports '
                f'return_word_ids=True (e.g. BertTokenizer); '
                f'{type(tokenizer).__name__} does not.')
        self.tokenizer = tokenizer
        self.mask_token_ratio = mask_token_ratio
        self.random_token_ratio = random_token_ratio
        self.function_words = frozenset(w.lower() for w in function_words)
        if phrases_per_caption is not None and phrases_per_caption < 1:
            raise ValueError('phrases_per_caption must be None (all) or >= '
                             f'1, got {phrases_per_caption}.')
        self.phrases_per_caption = phrases_per_caption
        self.mask_token_id = int(tokenizer.mask_token_id)
        self.random_ids = random_token_ids(tokenizer)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_token_ratio='
                f'{self.mask_token_ratio}, random_token_ratio='
                f'{self.random_token_ratio}, context={self.context!r})')

    def _candidates(self, words: List[str], counts: List[int],
                    visible: int) -> List[int]:
        """Indices of the words that may be masked, best tier first."""
        starts = [sum(counts[:j]) for j in range(len(words))]
        present = [j for j in range(len(words))
                   if counts[j] > 0 and starts[j] < visible]
        alnum = [j for j in present if any(c.isalnum() for c in words[j])]
        content = [j for j in alnum if words[j].lower().strip(
            string.punctuation) not in self.function_words]
        return content or alnum or present

    def __call__(self, text: Optional[Dict[str, torch.Tensor]] = None,
                 data_samples: Optional[Sequence] = None,
                 generator: Optional[torch.Generator] = None
                 ) -> Dict[str, object]:
        """The masker call shared by all maskers: mask one word of each
        noun phrase (or ``phrases_per_caption`` of them) of each sample's
        caption.

        The phrases come from ``data_samples[i].phrases`` (attached by the
        dataset's ``phrase_cfg``); with ``context='phrase'`` the rows
        returned are the tokenised *phrases*, with ``'caption'`` the
        tokenised ``data_samples[i].caption`` (one copy per phrase); ``text``
        is not read.

        Returns:
            dict: as :meth:`mask_phrases` (``'caption'``: as
            :meth:`mask_in_captions`), one row per phrase, plus ``rows``
            (LongTensor [R]: the sample each row belongs to).
        """
        if data_samples is None:
            raise ValueError('PhraseMasker reads the noun phrases of the '
                             'data samples; pass data_samples.')
        phrases = [list(s.get('phrases') or []) for s in data_samples]
        if not any(phrases):
            raise ValueError(
                'Mask Phrase Modeling / BidirAtt need noun phrases per '
                'caption: set phrase_cfg on the training dataset (see '
                'configs/laip/README.md).')
        if self.context == 'caption':
            captions = [str(s.get('caption') or '') for s in data_samples]
            located = [locate_phrases(c, p) for c, p in zip(captions, phrases)]
            rows, picked = self.select_phrases(located, generator)
            out = self.mask_in_captions([captions[r] for r in rows], picked,
                                        generator)
        else:
            rows, picked = self.select_phrases(phrases, generator)
            out = self.mask_phrases([[p] if p is not None else []
                                     for p in picked], generator)
        out['rows'] = torch.tensor(rows, dtype=torch.long)
        return out

    def select_phrases(self, phrases: Sequence[Sequence[str]],
                       generator: Optional[torch.Generator] = None):
        """The phrase rows: ``(rows, texts)``, the caption index of each row
        and its phrase; every phrase of a caption, or
        ``phrases_per_caption`` drawn without replacement. A caption without
        phrases keeps one row with no phrase (None), which is not valid."""
        rows, texts = [], []
        cap = self.phrases_per_caption
        device = generator.device if generator is not None else 'cpu'
        for i, caption_phrases in enumerate(phrases):
            chosen = list(caption_phrases)
            if not chosen:
                chosen = [None]
            elif cap is not None and len(chosen) > cap:
                order = torch.randperm(len(chosen), generator=generator,
                                       device=device).tolist()
                chosen = [chosen[j] for j in sorted(order[:cap])]
            rows += [i] * len(chosen)
            texts += chosen
        return rows, texts

    def mask_phrases(self, phrases: Sequence[Sequence[str]],
                     generator: Optional[torch.Generator] = None
                     ) -> Dict[str, object]:
        """Mask one word of one phrase per sample.

        Args:
            phrases (list[list[str]]): The phrases of each of B captions.
            generator (torch.Generator, optional): For reproducible draws.

        Returns:
            dict: ``phrase_texts`` (list[str], B), ``input_ids``,
            ``attention_mask``, ``masked_ids``, ``labels`` (LongTensor
            [B, L]; labels hold the original id at masked positions, -100
            elsewhere), ``word_index`` (LongTensor [B], index of the masked
            word in ``phrase_text.split()``), ``phrase_index`` (LongTensor
            [B]), ``valid`` (BoolTensor [B]) and ``masked_words`` (list[str]).
        """
        num = len(phrases)
        device = generator.device if generator is not None else 'cpu'
        draws = torch.rand((num, 2), generator=generator,
                           device=device).cpu().tolist()
        phrase_index = [min(int(u * len(p)), len(p) - 1) if p else -1
                        for (u, _), p in zip(draws, phrases)]
        texts = [str(p[k]) if k >= 0 else ''
                 for p, k in zip(phrases, phrase_index)]
        enc, counts = self._encode(texts)
        visible = [max(r) + 1 for r in enc['word_ids'].tolist()]
        word_index = [-1] * num
        for i, text in enumerate(texts):
            words = text.split()
            cands = self._candidates(words, [counts[w] for w in words],
                                     visible[i])
            if cands:
                word_index[i] = cands[min(int(draws[i][1] * len(cands)),
                                          len(cands) - 1)]
        out = self._mask(enc, counts, texts, word_index, generator)
        keep = out['valid'].tolist()
        word_index = [j if v else -1 for j, v in zip(word_index, keep)]
        phrase_index = [k if v else -1 for k, v in zip(phrase_index, keep)]
        return dict(
            phrase_texts=texts,
            **out,
            word_index=torch.tensor(word_index, dtype=torch.long),
            phrase_index=torch.tensor(phrase_index, dtype=torch.long),
            masked_words=[t.split()[j] if j >= 0 else ''
                          for t, j in zip(texts, word_index)])

    def mask_in_captions(self, captions: Sequence[str],
                         phrases: Sequence[Optional[tuple]],
                         generator: Optional[torch.Generator] = None
                         ) -> Dict[str, object]:
        """Mask one word of a located phrase in the caption around it.

        Args:
            captions (list[str]): B captions.
            phrases (list[tuple | None]): ``(phrase, start)`` per caption, as
                :func:`locate_phrases` gives (``start`` -1: the phrase is not
                in the caption; None: no phrase); such rows are not valid.
            generator (torch.Generator, optional): For reproducible draws.

        Returns:
            dict: ``input_ids``, ``attention_mask``, ``masked_ids``,
            ``labels`` [B, L] of the captions, ``valid`` [B] and
            ``masked_words`` (list[str]); the word is drawn as in
            :meth:`mask_phrases` and all of its sub-tokens are corrupted.
        """
        num = len(captions)
        device = generator.device if generator is not None else 'cpu'
        draws = torch.rand(num, generator=generator,
                           device=device).cpu().tolist()
        enc = self.tokenizer(list(captions), return_word_ids=True)
        # The words of each located phrase with their offsets in it.
        spans = [[(m.start(), m.group())
                  for m in re.finditer(r'\S+', item[0])]
                 if item is not None and item[1] >= 0 else None
                 for item in phrases]
        counts = self._word_counts(
            [w for row in spans if row for _, w in row])
        # (caption prefix, word) per row: tokenizer words before the masked
        # word and in it, counted on the strings themselves.
        cut = []
        for caption, item, row, u in zip(captions, phrases, spans, draws):
            if row is None:
                cut.append(None)
                continue
            # every word counts as visible: truncation of the caption is
            # what decides, and the row's ``valid`` says it
            cands = self._candidates([w for _, w in row],
                                     [counts[w] for _, w in row],
                                     float('inf'))
            offset, word = row[cands[min(int(u * len(cands)),
                                         len(cands) - 1)]]
            cut.append((caption[:item[1] + offset], word))
        counts = self._word_counts(
            [w for c in cut if c for w in re.findall(r'\S+', ' '.join(c))])
        spans, words = [], []
        for c in cut:
            if c is None:
                spans.append((0, 0))
                words.append('')
                continue
            prefix, word = c
            before = sum(counts[w] for w in re.findall(r'\S+', prefix))
            spans.append((before, before + counts[word]))
            words.append(word)
        out = self._mask_spans(enc, spans, generator)
        out['masked_words'] = [w if v else ''
                               for w, v in zip(words, out['valid'].tolist())]
        return out

    def _word_counts(self, words: Sequence[str]) -> Dict[str, int]:
        """Tokenizer words in each whitespace-free string."""
        vocab = sorted(set(words))
        if not vocab:
            return {}
        wids = self.tokenizer(vocab, return_word_ids=True)['word_ids']
        # Python max: torch reductions on tiny tensors cost milliseconds.
        return {w: max(r) + 1 for w, r in zip(vocab, wids.tolist())}

    def mask_words(self, texts: Sequence[str], word_index: Sequence[int],
                   generator: Optional[torch.Generator] = None
                   ) -> Dict[str, torch.Tensor]:
        """Mask the given word (index into ``text.split()``, -1 for none)
        of each text, with this masker's mask/random/keep ratios.

        Returns:
            dict: ``input_ids``, ``attention_mask``, ``masked_ids``,
            ``labels`` ([B, L] as in :meth:`__call__`) and ``valid`` ([B]:
            the word has at least one token within the length limit).
        """
        texts = [str(t) for t in texts]
        if len(word_index) != len(texts):
            raise ValueError(f'{len(texts)} texts but {len(word_index)} word '
                             'indices')
        for text, j in zip(texts, word_index):
            if not -1 <= j < len(text.split()):
                raise ValueError(f'word index {j} is out of range for '
                                 f'{text!r}')
        enc, counts = self._encode(texts)
        return self._mask(enc, counts, texts, list(word_index), generator)

    def _encode(self, texts: List[str]):
        """Tokenised texts (with ``word_ids``) and the number of tokenizer
        words of every whitespace word in them."""
        enc = self.tokenizer(texts, return_word_ids=True)
        # Tokenizer words per whitespace word ("t-shirt" -> t, -, shirt):
        # a phrase's word ids are the concatenation of its words' word ids.
        return enc, self._word_counts([w for t in texts for w in t.split()])

    def _mask(self, enc, counts, texts, word_index, generator):
        """Corrupt the sub-tokens of word ``word_index[i]`` of each text."""
        spans = []
        for text, j in zip(texts, word_index):
            if j < 0:
                spans.append((0, 0))
                continue
            words = text.split()
            start = sum(counts[w] for w in words[:j])
            spans.append((start, start + counts[words[j]]))
        return self._mask_spans(enc, spans, generator)

    def _mask_spans(self, enc, spans, generator):
        """Corrupt the sub-tokens whose tokenizer word id lies in
        ``[lo, hi)`` of each row's span (``(0, 0)``: none)."""
        word_ids = enc['word_ids']
        lo, hi = torch.tensor(spans, dtype=torch.long).view(-1, 2).unbind(1)
        chosen = (word_ids >= lo[:, None]) & (word_ids < hi[:, None])
        return mask_chosen(self, enc['input_ids'], enc['attention_mask'],
                           chosen, generator)
