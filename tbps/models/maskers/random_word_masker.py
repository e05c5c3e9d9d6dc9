"""BERT-style random token masking (masked language modelling, IRRA's IRR)."""
import string
from typing import Dict, Optional, Sequence

import torch

from tbps.registry import MODELS


def _rand(shape, like: torch.Tensor, generator: Optional[torch.Generator]):
    """Uniform [0, 1) numbers drawn on the generator's device, returned on
    ``like``'s device (a CPU generator then works for CUDA inputs too)."""
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device).to(
        like.device)


def special_ids(tokenizer) -> torch.Tensor:
    """LongTensor of the tokenizer's special ids and its mask id."""
    ids = {int(i) for i in tokenizer.special_token_ids}
    ids.add(int(tokenizer.mask_token_id))
    return torch.tensor(sorted(ids), dtype=torch.long)


def random_token_ids(tokenizer) -> torch.Tensor:
    """Ids a "random token" replacement may take: the vocabulary minus the
    special and mask ids."""
    keep = torch.ones(int(tokenizer.vocab_size), dtype=torch.bool)
    ids = special_ids(tokenizer)
    keep[ids[ids < len(keep)]] = False
    return keep.nonzero().squeeze(1)


def corrupt(input_ids: torch.Tensor, chosen: torch.Tensor, mask_token_id: int,
            random_ids: torch.Tensor, mask_token_ratio: float,
            random_token_ratio: float,
            generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Copy of ``input_ids`` [B, L] whose ``chosen`` tokens become the mask
    id (share ``mask_token_ratio``), a token drawn from ``random_ids``
    (share ``random_token_ratio``) or stay unchanged (the rest)."""
    action = _rand(input_ids.shape, input_ids, generator)
    to_mask = chosen & (action < mask_token_ratio)
    to_random = chosen & ~to_mask & (
        action < mask_token_ratio + random_token_ratio)
    pick = (_rand(input_ids.shape, input_ids, generator) *
            len(random_ids)).long().clamp_(max=len(random_ids) - 1)
    masked_ids = input_ids.clone()
    masked_ids[to_mask] = mask_token_id
    masked_ids[to_random] = random_ids.to(input_ids.device)[pick[to_random]]
    return masked_ids


def word_piece_tables(tokenizer):
    """BoolTensors [V]: ``continuation`` (a WordPiece ``##`` piece, part of
    the word before it) and ``punctuation`` (a token of punctuation only),
    from the tokenizer's ``vocabulary``."""
    vocab = list(tokenizer.vocabulary)
    continuation = torch.tensor([t.startswith('##') for t in vocab])
    punctuation = torch.tensor([bool(t) and all(c in string.punctuation
                                                for c in t) for t in vocab])
    return continuation, punctuation


def whole_word_index(maskable: torch.Tensor, input_ids: torch.Tensor,
                     continuation: torch.Tensor) -> torch.Tensor:
    """LongTensor [B, L]: the index of the word each ``maskable`` token
    belongs to within its row (a word = a piece and the ``##`` pieces
    after it), -1 for the others and for a continuation piece with no
    maskable word to join."""
    starts = maskable & ~continuation.to(input_ids.device)[input_ids]
    index = starts.long().cumsum(1) - 1
    return torch.where(maskable & (index >= 0), index,
                       torch.full_like(index, -1))


def non_special(input_ids: torch.Tensor,
                attention_mask: Optional[torch.Tensor],
                special: torch.Tensor) -> torch.Tensor:
    """BoolTensor [B, L]: real (unpadded) tokens whose id is not in
    ``special``."""
    ok = ~torch.isin(input_ids, special.to(input_ids.device))
    if attention_mask is not None:
        ok &= attention_mask.bool()
    return ok


def mask_chosen(masker, input_ids: torch.Tensor,
                attention_mask: torch.Tensor, chosen: torch.Tensor,
                generator: Optional[torch.Generator] = None, **extra
                ) -> Dict[str, torch.Tensor]:
    """The masker output for ``chosen`` [B, L] tokens: corrupted with the
    masker's ``mask_token_id`` / ``random_ids`` and 80/10/10 ratios, labels
    (original ids where chosen, -100 elsewhere) and ``valid`` rows, plus
    ``extra`` fields."""
    masked_ids = corrupt(input_ids, chosen, masker.mask_token_id,
                         masker.random_ids, masker.mask_token_ratio,
                         masker.random_token_ratio, generator)
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    return dict(input_ids=input_ids, attention_mask=attention_mask,
                masked_ids=masked_ids, labels=labels,
                valid=chosen.any(dim=1), **extra)


@MODELS.register_module()
class RandomWordMasker:
    """Choose text tokens at random and corrupt them (Devlin et al., 2019).

    Each token that is neither special (``tokenizer.special_token_ids``) nor
    padding (``attention_mask == 0``) is chosen with probability
    ``mask_prob``; a chosen token becomes the mask token with probability
    ``mask_token_ratio``, a random non-special token with probability
    ``random_token_ratio`` and stays unchanged otherwise (80/10/10).

    Every row with at least one maskable token gets at least one chosen
    token (one uniformly drawn maskable position is added to rows where the
    draw chose none), so every caption contributes to the loss; rows with
    no maskable token are left untouched. ``max_masks`` caps the number of
    chosen tokens per row (a random subset is kept).

    Args:
        tokenizer: A tbps tokenizer (``mask_token_id``, ``vocab_size``,
            ``special_token_ids``); BERT's and CLIP's both work.
        mask_prob (float): Probability that a token is chosen.
        mask_token_ratio (float): Share of chosen tokens set to the mask id.
        random_token_ratio (float): Share set to a random token.
        max_masks (int, optional): At most this many chosen tokens (words
            with ``whole_word``) per row.
        whole_word (bool): Choose words instead of tokens: a word (a piece
            and the ``##`` pieces after it) is chosen with ``mask_prob`` and
            all its pieces are corrupted (APTM's, X-VLM's whole-word
            masking).
    """

    def __init__(self, tokenizer, mask_prob: float = 0.15,
                 mask_token_ratio: float = 0.8,
                 random_token_ratio: float = 0.1,
                 max_masks: Optional[int] = None,
                 whole_word: bool = False):
        if not 0 < mask_prob <= 1:
            raise ValueError(f'mask_prob must be in (0, 1], got {mask_prob}.')
        if (min(mask_token_ratio, random_token_ratio) < 0
                or mask_token_ratio + random_token_ratio > 1):
            raise ValueError('mask_token_ratio and random_token_ratio must be '
                             'non-negative with a sum <= 1, got '
                             f'{mask_token_ratio} and {random_token_ratio}.')
        if max_masks is not None and max_masks < 1:
            raise ValueError(f'max_masks must be >= 1, got {max_masks}.')
        self.mask_prob = mask_prob
        self.mask_token_ratio = mask_token_ratio
        self.random_token_ratio = random_token_ratio
        self.max_masks = max_masks
        self.mask_token_id = int(tokenizer.mask_token_id)
        self.special_ids = special_ids(tokenizer)
        self.random_ids = random_token_ids(tokenizer)
        self.whole_word = whole_word
        if whole_word:
            self.continuation = word_piece_tables(tokenizer)[0]

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_prob={self.mask_prob}, '
                f'mask_token_ratio={self.mask_token_ratio}, '
                f'random_token_ratio={self.random_token_ratio}, '
                f'max_masks={self.max_masks}, '
                f'whole_word={self.whole_word})')

    def maskable(self, input_ids: torch.Tensor,
                 attention_mask: Optional[torch.Tensor]) -> torch.Tensor:
        """BoolTensor [B, L]: tokens that may be chosen."""
        return non_special(input_ids, attention_mask, self.special_ids)

    def __call__(self, text: Dict[str, torch.Tensor],
                 data_samples: Optional[Sequence] = None,
                 generator: Optional[torch.Generator] = None
                 ) -> Dict[str, torch.Tensor]:
        """Mask a batch of captions; the inputs are not modified.

        Args:
            text (dict): ``input_ids`` LongTensor [B, L] and, optionally,
                ``attention_mask`` [B, L] (0 at padding).
            data_samples: Unused (the masker call signature shared by all
                maskers, see :mod:`tbps.models.maskers`).
            generator (torch.Generator, optional): For reproducible draws.

        Returns:
            dict: ``input_ids`` and ``attention_mask`` (the inputs),
            ``masked_ids`` LongTensor [B, L], ``labels`` LongTensor [B, L]
            (original id at chosen positions, -100 elsewhere) and ``valid``
            BoolTensor [B] (the row has a chosen token).
        """
        input_ids = text['input_ids']
        attention_mask = text.get('attention_mask')
        maskable = self.maskable(input_ids, attention_mask)
        words = None
        if self.whole_word:  # draw words: one score per word, at its start
            words = whole_word_index(maskable, input_ids, self.continuation)
            previous = torch.cat([torch.full_like(words[:, :1], -1),
                                  words[:, :-1]], dim=1)
            maskable = (words >= 0) & (words != previous)
        scores = _rand(input_ids.shape, input_ids, generator)
        chosen = (scores < self.mask_prob) & maskable
        # A row where the draw chose nothing gets its lowest-scoring
        # maskable position: all of them scored >= mask_prob, so this is a
        # uniform pick.
        fallback = scores.masked_fill(~maskable, 2.0).argmin(dim=1)
        empty = maskable.any(dim=1) & ~chosen.any(dim=1)
        chosen[empty, fallback[empty]] = True
        if self.max_masks is not None:
            rank = scores.masked_fill(~chosen, 2.0).argsort(1).argsort(1)
            chosen &= rank < self.max_masks
        if words is not None:  # every piece of a chosen word
            # column w: word w chosen; unchosen tokens write to a spare
            # last column, so only True is ever scattered
            by_word = chosen.new_zeros(chosen.shape[0], chosen.shape[1] + 1)
            spare = torch.full_like(words, chosen.shape[1])
            by_word.scatter_(1, torch.where(chosen, words, spare),
                             torch.ones_like(chosen))
            chosen = by_word.gather(1, words.clamp(min=0)) & (words >= 0)

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        return mask_chosen(self, input_ids, attention_mask, chosen,
                           generator)
