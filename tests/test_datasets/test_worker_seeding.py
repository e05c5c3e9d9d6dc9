"""DataLoader workers reseeded per epoch (tbps.datasets.worker_seeding):
a loader started afresh at epoch e (a resumed run) draws what a persistent
loader draws in its epoch e, and epochs differ."""
import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from tbps.datasets.worker_seeding import reseed_worker, set_epoch_seed


class Draws(Dataset):
    """Each item: one draw of python's, numpy's and torch's generators."""

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        reseed_worker(self)
        return torch.tensor([random.random(), np.random.rand(),
                             torch.rand(()).item()])


def epochs(loader, dataset, first, last):
    out = []
    for epoch in range(first, last):
        set_epoch_seed(dataset, seed=3, epoch=epoch, rank=0)
        out.append(torch.cat(list(loader)))
    return out


@pytest.mark.parametrize('persistent', [True, False])
def test_a_restarted_loader_continues_the_epochs(persistent):
    dataset = Draws()
    loader = DataLoader(dataset, batch_size=2, num_workers=2,
                        persistent_workers=persistent)
    whole = epochs(loader, dataset, 0, 3)
    assert not torch.equal(whole[0], whole[1])  # epochs differ
    # the four items of each worker differ (not one seed per item)
    assert len(set(whole[0][:, 1].tolist())) == 8
    resumed = Draws()
    again = epochs(DataLoader(resumed, batch_size=2, num_workers=2,
                              persistent_workers=persistent), resumed, 1, 3)
    assert torch.equal(again[0], whole[1]) and torch.equal(again[1], whole[2])
    # another seed draws other augmentations
    other = Draws()
    set_epoch_seed(other, seed=4, epoch=1, rank=0)
    assert not torch.equal(torch.cat(list(DataLoader(
        other, batch_size=2, num_workers=2))), whole[1])


def test_main_process_is_left_alone():
    dataset = Draws()
    set_epoch_seed(dataset, seed=3, epoch=0, rank=0)
    torch.manual_seed(0)
    a = dataset[0]
    torch.manual_seed(0)
    b = dataset[0]
    assert a[2] == b[2]  # no reseeding without a worker: the global stream
