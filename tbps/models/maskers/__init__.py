from .phrase_masker import PhraseMasker
from .random_word_masker import RandomWordMasker

__all__ = ['RandomWordMasker', 'PhraseMasker']
