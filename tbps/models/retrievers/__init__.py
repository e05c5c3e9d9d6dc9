from .base import BaseRetriever
from .dual_encoder import DualEncoderRetriever
from .fusion import FusionRetriever
from .momentum_contrast import MomentumContrastRetriever

__all__ = ['BaseRetriever', 'DualEncoderRetriever', 'FusionRetriever',
           'MomentumContrastRetriever']
