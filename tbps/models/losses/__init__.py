from .infonce import InfoNCELoss
from .utils import diagonal_targets, pid_targets

__all__ = ['InfoNCELoss', 'diagonal_targets', 'pid_targets']
