"""Identity-balanced sampling: batches of P identities x K records."""
import math
from typing import Iterator, List

import numpy as np
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from tbps.registry import DATA_SAMPLERS


def dataset_pids(dataset) -> List[int]:
    """Identity of every index of ``dataset``.

    Reads ``dataset.pids`` (:class:`TextImageDataset`); mmengine's
    ``ConcatDataset`` (pids of later datasets offset past earlier ones, so
    identities never merge), ``RepeatDataset`` and ``ClassBalancedDataset``
    are unwrapped.
    """
    if hasattr(dataset, 'pids'):
        return list(dataset.pids)
    if hasattr(dataset, 'full_init'):
        dataset.full_init()  # mmengine wrappers initialise lazily
    if hasattr(dataset, 'datasets'):  # ConcatDataset
        pids, offset = [], 0
        for sub in dataset.datasets:
            sub_pids = dataset_pids(sub)
            pids.extend(p + offset for p in sub_pids)
            offset += max(sub_pids, default=-1) + 1
        return pids
    if hasattr(dataset, 'repeat_indices'):  # ClassBalancedDataset
        inner = dataset_pids(dataset.dataset)
        return [inner[i] for i in dataset.repeat_indices]
    if hasattr(dataset, 'times'):  # RepeatDataset
        return dataset_pids(dataset.dataset) * dataset.times
    raise TypeError(
        f'IdentityBalancedSampler needs a dataset with a `pids` property '
        f'(e.g. a tbps TextImageDataset), got {type(dataset).__name__}.')


@DATA_SAMPLERS.register_module()
class IdentityBalancedSampler(Sampler):
    """Yield indices in groups of ``num_instances`` records of one identity.

    Each epoch, the records of every identity are shuffled and cut into
    groups of ``num_instances``; an identity's last incomplete group is
    filled with records of the same identity drawn again (with
    replacement), so an identity with fewer records than ``num_instances``
    still forms one full group. The groups are then shuffled, so a batch
    whose size is a multiple of ``num_instances`` holds
    ``batch_size / num_instances`` groups. An identity with more than
    ``num_instances`` records has several groups per epoch, which may
    occasionally land in the same batch.

    Distributed: every rank builds the same global order (same seed and
    epoch) and takes every ``world_size``-th group starting at its rank, so
    groups stay whole and all ranks have the same length. ``round_up``
    repeats groups from the start so every group is used; otherwise the
    last ``num_groups % world_size`` groups are dropped.

    Args:
        dataset: Dataset with a ``pids`` property (see :func:`dataset_pids`).
        num_instances (int): Records per identity group (K).
        shuffle (bool): Shuffle records and groups. Without it the order is
            fixed: identities sorted, records in dataset order, groups
            filled by repeating records cyclically.
        seed (int, optional): Random seed, shared by all ranks; ``None``
            draws one and synchronises it.
        round_up (bool): See above.
    """

    def __init__(self, dataset, num_instances: int = 4, shuffle: bool = True,
                 seed=None, round_up: bool = True):
        if int(num_instances) < 1:
            raise ValueError(
                f'num_instances must be >= 1, got {num_instances}.')
        rank, world_size = get_dist_info()
        self.rank, self.world_size = rank, world_size
        self.dataset = dataset
        self.num_instances = int(num_instances)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.round_up = round_up
        self.epoch = 0

        pids = np.asarray(dataset_pids(dataset), dtype=np.int64)
        if pids.size == 0:
            raise ValueError('IdentityBalancedSampler: the dataset is empty.')
        # Records sorted by identity: an identity is a contiguous run.
        self._order = np.argsort(pids, kind='stable')
        _, self._starts, self._counts = np.unique(
            pids[self._order], return_index=True, return_counts=True)
        k = self.num_instances
        self._groups = -(-np.maximum(self._counts, k) // k)  # per identity
        self.num_groups = int(self._groups.sum())
        if round_up:
            self.groups_per_rank = math.ceil(self.num_groups / world_size)
        else:
            self.groups_per_rank = self.num_groups // world_size
        self.num_samples = self.groups_per_rank * k
        self.total_size = self.num_samples * world_size

    def global_order(self) -> np.ndarray:
        """All groups of this epoch, ``[num_groups, num_instances]``."""
        k, counts = self.num_instances, self._counts
        rng = np.random.default_rng([self.seed, self.epoch])
        identity = np.repeat(np.arange(len(counts)), counts)
        records = self._order
        if self.shuffle:  # shuffle within each identity's run
            perm = np.lexsort((rng.random(len(records)), identity))
            records = records[perm]
        # Fill each identity up to a whole number of groups.
        pad = self._groups * k - counts
        pad_identity = np.repeat(np.arange(len(counts)), pad)
        if self.shuffle:
            offset = (rng.random(pad.sum()) * counts[pad_identity]).astype(
                np.int64)
        else:
            first = np.repeat(np.cumsum(pad) - pad, pad)
            offset = (np.arange(pad.sum()) - first) % counts[pad_identity]
        fill = records[self._starts[pad_identity] + offset]
        # Records then fill per identity, cut into groups of k.
        keys = np.concatenate([identity, pad_identity])
        items = np.concatenate([records, fill])
        groups = items[np.argsort(keys, kind='stable')].reshape(-1, k)
        if self.shuffle:
            groups = groups[rng.permutation(len(groups))]
        return groups

    def __iter__(self) -> Iterator[int]:
        groups = self.global_order()
        needed = self.groups_per_rank * self.world_size
        if needed > len(groups):  # round_up: repeat from the start
            reps = math.ceil(needed / len(groups))
            groups = np.concatenate([groups] * reps)
        groups = groups[:needed]
        return iter(groups[self.rank::self.world_size].reshape(-1).tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Change the order for ``epoch`` (deterministic given the seed)."""
        self.epoch = epoch
