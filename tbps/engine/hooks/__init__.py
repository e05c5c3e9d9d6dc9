from .finite_loss_hook import FiniteLossHook
from .loss_stage_hook import LossStageHook

__all__ = ['FiniteLossHook', 'LossStageHook']
