from .clip_text import CLIPTextEncoder
from .vit import ViTImageEncoder

__all__ = ['CLIPTextEncoder', 'ViTImageEncoder']
