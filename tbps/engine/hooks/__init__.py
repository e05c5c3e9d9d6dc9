from .loss_stage_hook import LossStageHook

__all__ = ['LossStageHook']
