"""Attention-guided masking (AGM, AGA): mask the words the text encoder's
[CLS] token attends to."""
from typing import Dict, Optional, Sequence

import torch

from tbps.registry import MODELS
from .random_word_masker import (_rand, mask_chosen, non_special,
                                 random_token_ids, special_ids,
                                 whole_word_index, word_piece_tables)

STRATEGIES = ('sample', 'topk')


@MODELS.register_module()
class AttentionGuidedMasker:
    """Choose whole words by the text encoder's [CLS] attention and
    corrupt them (AGM; Tan et al., AGA).

    The score of a word is the [CLS]-to-token attention of the unmasked
    caption, averaged over heads (by the text encoder) and over
    ``layers``, summed over the word's pieces. Per caption, ``n = max(1,
    round(mask_ratio x words))`` words are chosen: ``'sample'`` draws them
    without replacement with probability proportional to
    ``score ** (1 / temperature)`` (Gumbel top-k), ``'topk'`` takes the n
    highest. Special tokens, padding and punctuation are never chosen; all
    pieces of a chosen word are, and each chosen token becomes the mask id,
    a random token or stays as it is (``mask_token_ratio`` /
    ``random_token_ratio``, BERT's 80/10/10).

    The attention comes with the text (``text['cls_attention']`` [B,
    layers, L]): the retriever's training pass computes it when a head's
    masker has ``needs_cls_attention`` (no extra text pass).

    Args:
        tokenizer: A WordPiece tokenizer (``vocabulary``, ``mask_token_id``,
            ``special_token_ids``, ``vocab_size``).
        mask_ratio (float): Share of a caption's words masked (0.15).
        layers (Sequence[int], optional): Text-encoder layers whose
            attention is averaged (default all).
        strategy (str): ``'sample'`` or ``'topk'``.
        temperature (float): Sharpness of the sampling (1: proportional to
            the score; -> 0: top-k).
        max_masks (int, optional): At most this many words a caption.
    """
    needs_cls_attention = True

    def __init__(self, tokenizer, mask_ratio: float = 0.15,
                 layers: Optional[Sequence[int]] = None,
                 strategy: str = 'sample', temperature: float = 1.0,
                 mask_token_ratio: float = 0.8,
                 random_token_ratio: float = 0.1,
                 max_masks: Optional[int] = None):
        if not 0 < mask_ratio <= 1:
            raise ValueError(f'mask_ratio must be in (0, 1], got '
                             f'{mask_ratio}.')
        if strategy not in STRATEGIES:
            raise ValueError(f'strategy must be one of {STRATEGIES}, got '
                             f'{strategy!r}.')
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}.')
        self.mask_ratio = mask_ratio
        self.layers = None if layers is None else list(layers)
        self.strategy = strategy
        self.temperature = temperature
        self.mask_token_ratio = mask_token_ratio
        self.random_token_ratio = random_token_ratio
        self.max_masks = max_masks
        self.mask_token_id = int(tokenizer.mask_token_id)
        self.special_ids = special_ids(tokenizer)
        self.random_ids = random_token_ids(tokenizer)
        self.continuation, self.punctuation = word_piece_tables(tokenizer)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(mask_ratio={self.mask_ratio}, '
                f'layers={self.layers}, strategy={self.strategy!r}, '
                f'temperature={self.temperature})')

    def word_ids(self, input_ids: torch.Tensor,
                 attention_mask: torch.Tensor) -> torch.Tensor:
        """LongTensor [B, L]: the index of the maskable word each token
        belongs to within its caption, -1 for special tokens, padding and
        punctuation."""
        maskable = non_special(input_ids, attention_mask, self.special_ids) \
            & ~self.punctuation.to(input_ids.device)[input_ids]
        return whole_word_index(maskable, input_ids, self.continuation)

    def word_scores(self, attention: torch.Tensor,
                    word_ids: torch.Tensor) -> torch.Tensor:
        """[CLS] attention [B, layers, L] -> word scores [B, L] (column w:
        word w; 0 past a caption's last word)."""
        if self.layers is not None:
            attention = attention[:, self.layers]
        token = attention.float().mean(1)
        scores = torch.zeros_like(token)
        ok = word_ids >= 0
        scores.scatter_add_(1, word_ids.clamp(min=0), token * ok)
        return scores

    def __call__(self, text: Dict[str, torch.Tensor],
                 data_samples: Optional[Sequence] = None,
                 generator: Optional[torch.Generator] = None
                 ) -> Dict[str, torch.Tensor]:
        """Mask a batch of captions; the inputs are not modified.

        Args:
            text (dict): ``input_ids``, ``attention_mask`` [B, L] and
                ``cls_attention`` [B, layers, L].

        Returns:
            dict: as :class:`RandomWordMasker` (``input_ids``,
            ``attention_mask``, ``masked_ids``, ``labels``, ``valid``) plus
            ``word_scores`` [B, L].
        """
        if 'cls_attention' not in text:
            raise KeyError(
                "AttentionGuidedMasker needs text['cls_attention'] [B, "
                'layers, L]: use it in a MaskedTokenHead of a '
                'FusionRetriever with a BertTextEncoder, which computes it.')
        input_ids = text['input_ids']
        attention_mask = text.get('attention_mask')
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        word_ids = self.word_ids(input_ids, attention_mask)
        scores = self.word_scores(text['cls_attention'].to(input_ids.device),
                                  word_ids)
        num_words = (word_ids.max(dim=1).values + 1).clamp(min=0)
        count = (num_words.float() * self.mask_ratio).round().long()
        count = torch.where(num_words > 0, count.clamp(min=1), count)
        if self.max_masks is not None:
            count = count.clamp(max=self.max_masks)
        columns = torch.arange(scores.shape[1], device=scores.device)
        is_word = columns[None] < num_words[:, None]
        keys = scores.clamp(min=1e-12).log() / self.temperature
        if self.strategy == 'sample':
            u = _rand(keys.shape, keys, generator).clamp(1e-12, 1 - 1e-12)
            keys = keys - (-u.log()).log()  # + Gumbel noise
        keys = keys.masked_fill(~is_word, float('-inf'))
        rank = keys.argsort(1, descending=True).argsort(1)
        chosen_words = (rank < count[:, None]) & is_word
        chosen = torch.gather(chosen_words, 1, word_ids.clamp(min=0)) \
            & (word_ids >= 0)
        return mask_chosen(self, input_ids, attention_mask, chosen,
                           generator, word_scores=scores)
