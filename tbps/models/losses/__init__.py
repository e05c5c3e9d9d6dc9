from .fusion_triplet import FusionTripletLoss
from .infonce import InfoNCELoss
from .masked_token import MaskedTokenLoss
from .momentum_itc import MomentumITCLoss
from .utils import diagonal_targets, pid_targets

__all__ = ['FusionTripletLoss', 'InfoNCELoss', 'MaskedTokenLoss',
           'MomentumITCLoss', 'diagonal_targets', 'pid_targets']
