from .base_dataset import AnnotationError, TextImageDataset
from .cuhk_pedes import CUHKPEDES
from .icfg_pedes import ICFGPEDES
from .mals import MALS
from .rstp_reid import RSTPReid
from .samplers import IdentityBalancedSampler
from .synth_mals import SynthMALS
from .synth_pedes import SynthPEDES

__all__ = [
    'AnnotationError', 'TextImageDataset', 'CUHKPEDES', 'ICFGPEDES',
    'RSTPReid', 'MALS', 'IdentityBalancedSampler', 'SynthPEDES',
    'SynthMALS'
]
