from .finite_loss_hook import FiniteLossHook
from .loss_stage_hook import LossStageHook
from .reset_queues_hook import ResetQueuesHook
from .rng_state_hook import RNGStateHook

__all__ = ['FiniteLossHook', 'LossStageHook', 'ResetQueuesHook',
           'RNGStateHook']
