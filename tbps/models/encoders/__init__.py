from .bert_text import BertTextEncoder
from .clip_text import CLIPTextEncoder
from .vit import ViTImageEncoder

__all__ = ['BertTextEncoder', 'CLIPTextEncoder', 'ViTImageEncoder']
