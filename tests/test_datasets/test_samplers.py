"""IdentityBalancedSampler: P identities x K records per batch."""
import gc
import json
from collections import Counter

import pytest
from mmengine.dataset import ConcatDataset, RepeatDataset

import tbps.datasets.samplers.identity_sampler as sampler_module
from tbps.datasets import CUHKPEDES
from tbps.datasets.samplers import IdentityBalancedSampler
from tbps.registry import DATA_SAMPLERS


@pytest.fixture(autouse=True)
def _skip_gc_collect(monkeypatch):
    """mmengine runs gc.collect() (~0.3 s) after serialising each dataset."""
    monkeypatch.setattr(gc, 'collect', lambda *args: 0)


class FakeDataset:
    """Anything with ``pids`` and a length."""

    def __init__(self, pids):
        self.pids = list(pids)

    def __len__(self):
        return len(self.pids)


# 6 identities with 1, 2, 4, 5, 8 and 3 records, shuffled positions.
PIDS = [3, 0, 1, 2, 2, 3, 1, 3, 4, 3, 2, 4, 4, 3, 4, 2, 4, 4, 4, 5, 5, 4,
        5]


def _groups(indices, pids, k):
    return [[pids[i] for i in indices[j:j + k]]
            for j in range(0, len(indices), k)]


@pytest.mark.parametrize('k', [1, 2, 4])
def test_groups_hold_one_identity(k):
    sampler = IdentityBalancedSampler(FakeDataset(PIDS), num_instances=k,
                                      seed=0)
    indices = list(sampler)
    assert len(indices) == len(sampler) and len(indices) % k == 0
    for group in _groups(indices, PIDS, k):
        assert len(set(group)) == 1
    # Every record appears; an identity fills whole groups, no more.
    assert set(indices) == set(range(len(PIDS)))
    counts = Counter(PIDS)
    used = Counter(PIDS[i] for i in indices)
    for pid, n in counts.items():
        assert used[pid] == -(-max(n, k) // k) * k


def test_batches_hold_p_identities_of_k_records():
    k, batch = 4, 8
    pids = [p for p in range(10) for _ in range(3)]  # fewer than k each
    sampler = IdentityBalancedSampler(FakeDataset(pids), num_instances=k,
                                      seed=3)
    indices = list(sampler)
    assert len(indices) == 10 * k
    for start in range(0, len(indices), batch):
        counts = Counter(pids[i] for i in indices[start:start + batch])
        assert len(counts) == batch // k
        assert set(counts.values()) == {k}


def test_deterministic_per_seed_and_epoch():
    def order(seed, epoch):
        sampler = IdentityBalancedSampler(FakeDataset(PIDS), 2, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(1, 0) == order(1, 0)
    assert order(1, 3) == order(1, 3)
    assert order(1, 0) != order(1, 1)
    assert order(1, 0) != order(2, 0)
    fixed = IdentityBalancedSampler(FakeDataset(PIDS), 2, shuffle=False)
    fixed_order = list(fixed)
    fixed.set_epoch(5)
    assert list(fixed) == fixed_order
    # Without shuffling identities come sorted, records in dataset order.
    assert fixed_order[:4] == [1, 1, 2, 6]


@pytest.mark.parametrize('round_up', [True, False])
def test_two_ranks_split_one_global_order(monkeypatch, round_up):
    k = 2
    global_order = list(IdentityBalancedSampler(
        FakeDataset(PIDS), k, seed=7, round_up=round_up))
    num_groups = len(global_order) // k
    assert num_groups % 2 == 1  # the padding / dropping paths both run
    slices = []
    for rank in range(2):
        monkeypatch.setattr(sampler_module, 'get_dist_info',
                            lambda rank=rank: (rank, 2))
        sampler = IdentityBalancedSampler(FakeDataset(PIDS), k, seed=7,
                                          round_up=round_up)
        slices.append(list(sampler))
        assert len(slices[-1]) == len(sampler)
    assert len(slices[0]) == len(slices[1])
    groups = [_groups(s, list(range(len(PIDS))), k) for s in slices]
    expected = _groups(global_order, list(range(len(PIDS))), k)
    if round_up:
        expected = expected + expected[:1]
        assert len(slices[0]) == (num_groups + 1) // 2 * k
    else:
        expected = expected[:-1]
        assert len(slices[0]) == num_groups // 2 * k
    # Rank r holds global groups r, r + 2, ...: disjoint, order kept.
    assert groups[0] == expected[0::2] and groups[1] == expected[1::2]
    for rank_groups in groups:
        for group in rank_groups:
            assert len({PIDS[i] for i in group}) == 1


def test_build_from_registry_and_errors():
    sampler = DATA_SAMPLERS.build(dict(type='IdentityBalancedSampler',
                                       dataset=FakeDataset(PIDS),
                                       num_instances=2, seed=0))
    assert isinstance(sampler, IdentityBalancedSampler)
    with pytest.raises(ValueError, match='num_instances must be >= 1'):
        IdentityBalancedSampler(FakeDataset(PIDS), num_instances=0)
    with pytest.raises(ValueError, match='empty'):
        IdentityBalancedSampler(FakeDataset([]))
    with pytest.raises(TypeError, match='`pids` property'):
        IdentityBalancedSampler(list(range(4)))


def _cuhk(root, ids):
    (root / 'imgs').mkdir(parents=True)
    records = [dict(split='train', id=pid, file_path=f'{pid}_{v}.jpg',
                    captions=['a person', 'the same person'])
               for pid in ids for v in range(2)]
    (root / 'reid_raw.json').write_text(json.dumps(records))
    return CUHKPEDES(data_root=str(root), split='train')


def test_real_dataset_and_wrappers(tmp_path):
    first = _cuhk(tmp_path / 'a', [10, 11, 12])  # 4 records per id
    second = _cuhk(tmp_path / 'b', [7])
    sampler = IdentityBalancedSampler(first, num_instances=4, seed=0)
    for group in _groups(list(sampler), first.pids, 4):
        assert len(set(group)) == 1
    # num_ids differs per dataset, so mmengine needs ignore_keys.
    concat = ConcatDataset([first, second], ignore_keys=['num_ids'])
    pids = sampler_module.dataset_pids(concat)
    assert pids == first.pids + [3] * 4  # second's pid 0 offset past 0..2
    assert len(IdentityBalancedSampler(concat, 4, seed=0)) == 16
    repeat = RepeatDataset(second, times=3)
    assert sampler_module.dataset_pids(repeat) == [0] * 12
