from .alignment import AlignmentLoss
from .cm_moco import CrossModalMoCoLoss
from .cmpm import CMPMLoss
from .fusion_triplet import FusionTripletLoss
from .id_loss import IDLoss
from .infonce import InfoNCELoss
from .masked_token import MaskedTokenLoss
from .momentum_itc import MomentumITCLoss
from .sdm import SDMLoss
from .utils import diagonal_targets, pid_targets

__all__ = ['AlignmentLoss', 'CrossModalMoCoLoss', 'CMPMLoss', 'FusionTripletLoss', 'IDLoss', 'InfoNCELoss',
           'MaskedTokenLoss', 'MomentumITCLoss', 'SDMLoss',
           'diagonal_targets', 'pid_targets']
