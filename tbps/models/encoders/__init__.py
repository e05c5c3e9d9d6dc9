from .bert_text import BertTextEncoder
from .bigru_text import BiGRUTextEncoder
from .clip_resnet import CLIPResNetEncoder
from .clip_text import CLIPTextEncoder
from .clip_vision import CLIPVisionEncoder
from .swin import SwinImageEncoder
from .vit import ViTImageEncoder

__all__ = ['BertTextEncoder', 'BiGRUTextEncoder', 'CLIPResNetEncoder',
           'CLIPTextEncoder', 'CLIPVisionEncoder',
           'SwinImageEncoder', 'ViTImageEncoder']
