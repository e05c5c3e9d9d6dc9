from .bert import BertTokenizer, SynthPEDESTokenizer
from .clip import CLIPTokenizer
from .word import WordTokenizer, build_word_vocab, split_words

__all__ = ['BertTokenizer', 'SynthPEDESTokenizer', 'CLIPTokenizer',
           'WordTokenizer', 'build_word_vocab', 'split_words']
