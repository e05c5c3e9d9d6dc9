from .bert import BertTokenizer, SynthPEDESTokenizer
from .clip import CLIPTokenizer

__all__ = ['BertTokenizer', 'SynthPEDESTokenizer', 'CLIPTokenizer']
