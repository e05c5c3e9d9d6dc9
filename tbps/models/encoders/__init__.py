from .bert_text import BertTextEncoder
from .clip_text import CLIPTextEncoder
from .clip_vision import CLIPVisionEncoder
from .swin import SwinImageEncoder
from .vit import ViTImageEncoder

__all__ = ['BertTextEncoder', 'CLIPTextEncoder', 'CLIPVisionEncoder',
           'SwinImageEncoder', 'ViTImageEncoder']
