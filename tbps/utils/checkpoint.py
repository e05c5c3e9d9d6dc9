"""Checkpoint loading compatible with torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, which rejects the
mmengine objects (``HistoryBuffer``, numpy scalars) stored in training
checkpoints, so ``--resume`` and ``load_from`` fail. Local files are the
user's own and are loaded as torch < 2.6 did; downloads keep torch's safe
default and are verified by hash in :mod:`tbps.apis.model_zoo`.
"""
import os.path as osp

import torch
from mmengine.runner.checkpoint import CheckpointLoader

_REGISTERED = False


def load_local_checkpoint(filename: str, map_location=None):
    """mmengine loader for local paths (scheme prefix '')."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'Checkpoint {filename!r} not found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def register_checkpoint_loaders():
    """Install :func:`load_local_checkpoint` as mmengine's local loader."""
    global _REGISTERED
    if not _REGISTERED:
        CheckpointLoader.register_scheme(prefixes='', force=True)(
            load_local_checkpoint)
        _REGISTERED = True
