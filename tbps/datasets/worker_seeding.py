"""Per-epoch seeds of DataLoader workers, so that a run resumed at an epoch
draws the same augmentations as the uninterrupted run.

mmengine seeds each worker once, from the config seed, when the worker
starts: persistent workers then continue one stream across epochs (which a
resumed run, whose workers start afresh, cannot continue), and workers that
are restarted every epoch repeat the same draws each epoch. Here the main
process publishes one state per (seed, epoch, rank) before each training
epoch (:func:`set_epoch_seed`, called by ``RNGStateHook``) in shared
memory, and a worker reseeds Python's, NumPy's and torch's generators from
that state and its worker id when it sees a new one (:func:`reseed_worker`,
called by ``TextImageDataset.prepare_data``).
"""
import multiprocessing as mp
import random

import numpy as np
import torch
from torch.utils.data import get_worker_info

_SHARED = '_epoch_seed'  # RawValue shared with the workers
_SEEN = '_epoch_seed_seen'  # the state a worker last seeded from


def _datasets(dataset):
    """The dataset and, for a concatenation, the datasets inside it."""
    yield dataset
    for child in getattr(dataset, 'datasets', ()) or ():
        yield from _datasets(child)


def set_epoch_seed(dataset, seed: int, epoch: int, rank: int) -> None:
    """Main process, before an epoch's batches are drawn: publish the
    state the workers of this rank seed from in that epoch."""
    state = int(np.random.SeedSequence(
        [int(seed) % 2**63, int(epoch), int(rank)]).generate_state(
            1, np.uint64)[0] >> 1)
    for ds in _datasets(dataset):
        shared = ds.__dict__.get(_SHARED)
        if shared is None:  # before the workers start: they inherit it
            ds.__dict__[_SHARED] = mp.RawValue('q', state)
        else:
            shared.value = state


def reseed_worker(dataset) -> None:
    """In a DataLoader worker: seed ``random``, ``numpy`` and ``torch`` from
    the published epoch state and the worker id, once per state. No-op in
    the main process or without a published state."""
    shared = dataset.__dict__.get(_SHARED)
    info = get_worker_info()
    if shared is None or info is None:
        return
    state = shared.value
    if dataset.__dict__.get(_SEEN) == state:
        return
    dataset.__dict__[_SEEN] = state
    seed = int(np.random.SeedSequence([state, info.id]).generate_state(1)[0])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
