from .base_dataset import AnnotationError, TextImageDataset
from .cuhk_pedes import CUHKPEDES

__all__ = ['AnnotationError', 'TextImageDataset', 'CUHKPEDES']
