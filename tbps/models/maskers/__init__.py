"""Word-masking strategies. Every masker is called the same way::

    out = masker(text, data_samples=None, generator=None)

``text`` holds ``input_ids`` / ``attention_mask`` [B, L] (and whatever
else a masker reads); ``out`` has ``input_ids``, ``attention_mask``,
``masked_ids``, ``labels`` (original id where masked, -100 elsewhere) and
``valid`` [B'] (rows with a masked token), plus masker-specific extras
(``PhraseMasker``: the phrase rows' ``phrase_texts``...). Heads tell maskers
apart by what they return, never by class name.
"""
from .attention_guided_masker import AttentionGuidedMasker
from .phrase_masker import PhraseMasker
from .random_word_masker import RandomWordMasker

__all__ = ['AttentionGuidedMasker', 'RandomWordMasker', 'PhraseMasker']
