"""Save and restore the random number generators with checkpoints, so a
resumed run continues the same random stream (dropout, masking, hard
negatives, augmentation in the main process)."""
import random

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank
from mmengine.hooks import Hook

from tbps.datasets.worker_seeding import set_epoch_seed
from tbps.registry import HOOKS


def rng_state() -> dict:
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        # this rank's device only: the number of visible devices may differ
        # when the run is resumed
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Store every rank's RNG states (python, numpy, torch, CUDA) in each
    checkpoint and restore this rank's when a run resumes from it. mmengine
    restores the weights, optimizer, schedulers, epoch and sampler seed,
    but not the generators: without them a resumed run draws other
    dropout masks, masked words and hard negatives than the uninterrupted
    one. DataLoader workers (``num_workers > 0``) are reseeded at every
    training epoch from (seed, epoch, rank, worker id)
    (:mod:`tbps.datasets.worker_seeding`), so their augmentations do not
    depend on when the workers started."""

    # before CheckpointHook (VERY_LOW) at the end of an epoch
    priority = 'LOW'

    def __init__(self):
        self._states = None

    def before_train_epoch(self, runner) -> None:
        loader = runner.train_dataloader
        if getattr(loader, 'generator', None) is None:
            # Creating a DataLoader iterator draws its workers' base seed;
            # from the global generator, that draw would fall at epoch 0 in
            # an uninterrupted run with persistent workers but at the
            # resumed epoch after a resume, shifting every later draw.
            loader.generator = torch.Generator().manual_seed(int(runner.seed))
        set_epoch_seed(loader.dataset, runner.seed, runner.epoch, get_rank())

    def after_train_epoch(self, runner) -> None:
        # Every rank gets here (checkpoints are saved by rank 0 alone, so
        # the states are gathered now, not when saving).
        self._states = all_gather_object(rng_state())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # The states gathered at the last epoch end (an iteration-based
        # checkpoint before the first epoch end keeps this rank's only;
        # other ranks then keep their own on resume).
        states = self._states or [rng_state()]
        checkpoint['rng_state'] = [dict(state) for state in states]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        states = checkpoint.get('rng_state')
        if not states or not getattr(runner, '_resume', False):
            return  # load_from (weights only) keeps the run's own stream
        rank = get_rank()
        if rank >= len(states):
            runner.logger.warning(
                f'The checkpoint holds RNG states of {len(states)} ranks; '
                f'rank {rank} keeps its own.')
            return
        set_rng_state(states[rank])
