from .finite_loss_hook import FiniteLossHook
from .loss_stage_hook import LossStageHook
from .rng_state_hook import RNGStateHook

__all__ = ['FiniteLossHook', 'LossStageHook', 'RNGStateHook']
