from .data_sample import MODALITIES, TBPSDataSample, stack_pids

__all__ = ['MODALITIES', 'TBPSDataSample', 'stack_pids']
