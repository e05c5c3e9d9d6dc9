from .base import BaseRetriever
from .dual_encoder import DualEncoderRetriever
from .fusion import FusionRetriever

__all__ = ['BaseRetriever', 'DualEncoderRetriever', 'FusionRetriever']
