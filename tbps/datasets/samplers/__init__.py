"""Data samplers (registered in ``tbps.registry.DATA_SAMPLERS``)."""
from .identity_sampler import IdentityBalancedSampler, dataset_pids

__all__ = ['IdentityBalancedSampler', 'dataset_pids']
