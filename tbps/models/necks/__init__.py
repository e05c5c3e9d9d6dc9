from .fusion_encoder import BertFusionEncoder
from .projection import LinearProjection

__all__ = ['BertFusionEncoder', 'LinearProjection']
