"""Collectives, losses, queues and the retrieval metric under real DDP.

Two processes on the gloo backend (CPU) are spawned once for the whole
module (``dist_results``); every rank runs all the checks below in the same
order, returns plain tensors / numbers, and the tests compare them, in this
(non-distributed) process, with a single process on the full batch. The
workers only compute, so a failing comparison cannot leave a rank waiting
in a collective.

Gradient semantics (torch.distributed.nn.functional.all_gather, used by
``all_gather_with_grad``): the backward of the gathered tensor sums, over
all ranks, the gradients that each rank's loss sends to a slice, and hands
the sum to the slice's owner. So rank r's input gradient is the gradient of
the SUM of the ranks' losses. DDP then averages parameter gradients over the
W ranks, so a loss that is a mean over local rows (InfoNCE) trains exactly
like the single-process mean over the global batch: the input gradient of
rank r is W times the single-process gradient of its rows, and the parameter
gradients after DDP's average equal the single-process ones.
"""
import os

import pytest
import torch
import torch.nn as nn
from conftest import run_gloo

pytestmark = pytest.mark.slow  # spawns two gloo processes

WORLD = 2
B = 4  # rows per rank
D = 16


# --------------------------------------------------------------- shared data
def _data() -> dict:
    """Full-batch inputs, identical in every process (fixed seed)."""
    g = torch.Generator().manual_seed(0)
    n = WORLD * B
    return dict(
        x=torch.randn(n, 5, generator=g),
        # gradient check of all_gather_with_grad: rank-specific weights
        A=torch.randn(WORLD, B, n, generator=g),
        v=torch.rand(WORLD, n, generator=g),
        img_in=torch.randn(n, 6, generator=g),
        txt_in=torch.randn(n, 7, generator=g),
        img=torch.randn(n, D, generator=g),
        txt=torch.randn(n, D, generator=g),
        # rank 0: [0, 1, 2, 0], rank 1: [3, 1, 4, 0]; pids 0 and 1 on both
        pids=torch.tensor([0, 1, 2, 0, 3, 1, 4, 0]),
        # enqueue: 2 steps of 2 rows per rank (global batch 4), 4-d
        img_m=torch.randn(2, WORLD * 2, 4, generator=g),
        txt_m=torch.randn(2, WORLD * 2, 4, generator=g),
        queue_pids=torch.arange(10, 10 + 2 * WORLD * 2).view(2, WORLD * 2),
    )


def _gather_loss(x_local, gathered, A, v):
    """sum_ij A[i, j] <x_i, g_j> + sum_j v_j |g_j|^2 (local rows i)."""
    return (A * (x_local @ gathered.t())).sum() + (v * gathered.pow(2).sum(1)
                                                  ).sum()


class _TinyCLIP(nn.Module):
    """Two linear 'encoders' and an InfoNCE loss: DDP averages the gradients
    of the encoders and of the learnable temperature."""

    def __init__(self, use_pids: bool):
        super().__init__()
        from tbps.models.losses import InfoNCELoss
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.img = nn.Linear(6, D)
            self.txt = nn.Linear(7, D)
        self.loss = InfoNCELoss(use_pids=use_pids)

    def forward(self, img, txt, pids):
        return self.loss(self.img(img), self.txt(txt), pids)


# Retrieval set: gallery images first, then queries, like the val datasets;
# sample_idx is the position. 13 records: DefaultSampler pads one duplicate.
_GALLERY_PIDS = [0, 1, 2, 3, 1]
_QUERY_PIDS = [0, 0, 1, 2, 2, 3, 1, 3]


def _retrieval_samples() -> list:
    g = torch.Generator().manual_seed(1)
    centers = torch.randn(4, 8, generator=g)
    samples = []
    for pid in _GALLERY_PIDS:
        samples.append(dict(modality='image', pid=pid, image_feat=(
            centers[pid] + 1.2 * torch.randn(8, generator=g))))
    for pid in _QUERY_PIDS:
        samples.append(dict(modality='text', pid=pid, text_feat=(
            centers[pid] + 1.2 * torch.randn(8, generator=g))))
    for i, s in enumerate(samples):
        s['sample_idx'] = i
    return samples


# ------------------------------------------------------------ rank checks
def _check_gather(rank, d):
    from tbps.models.utils import all_gather_no_grad, all_gather_with_grad
    sl = slice(rank * B, (rank + 1) * B)
    x = d['x'][sl].clone().requires_grad_(True)
    gathered = all_gather_with_grad(x)
    _gather_loss(x, gathered, d['A'][rank], d['v'][rank]).backward()
    no_grad = all_gather_no_grad(x)
    pids = all_gather_no_grad(d['pids'][sl])
    # ranks with different row counts (LAIP's phrase rows): rank r sends
    # r + 1 rows; gradients reach every rank's own rows
    part = d['x'][:rank + 1].clone().requires_grad_(True)
    uneven = all_gather_with_grad(part)
    (uneven * (rank + 1)).sum().backward()
    return dict(gathered=gathered.detach(), grad=x.grad,
                no_grad=no_grad, no_grad_requires_grad=no_grad.requires_grad,
                pids=pids, uneven=uneven.detach(), uneven_grad=part.grad,
                uneven_no_grad=all_gather_no_grad(d['pids'][:rank + 1]))


def _check_infonce(rank, d):
    from torch.nn.parallel import DistributedDataParallel as DDP

    from tbps.models.losses import InfoNCELoss
    sl = slice(rank * B, (rank + 1) * B)
    out = {}
    for use_pids in (True, False):
        # loss and feature gradients of the bare loss
        loss_fn = InfoNCELoss(use_pids=use_pids)
        img = d['img'][sl].clone().requires_grad_(True)
        txt = d['txt'][sl].clone().requires_grad_(True)
        loss = loss_fn(img, txt, d['pids'][sl])
        loss.backward()
        # the same loss behind two encoders, trained through DDP
        ddp = DDP(_TinyCLIP(use_pids))
        ddp_loss = ddp(d['img_in'][sl], d['txt_in'][sl], d['pids'][sl])
        ddp_loss.backward()
        out[use_pids] = dict(
            loss=loss.item(), img_grad=img.grad, txt_grad=txt.grad,
            temp_grad=loss_fn.log_inv_temperature.grad.clone(),
            ddp_loss=ddp_loss.item(),
            ddp_grads={n: p.grad.clone()
                       for n, p in ddp.module.named_parameters()})
    return out


def _check_enqueue(rank, d):
    from tbps.models.losses import MomentumITCLoss
    sl = slice(rank * 2, (rank + 1) * 2)  # 2 rows per rank
    itc = MomentumITCLoss(embed_dim=4, queue_size=8)
    ptrs = []
    for step in range(2):
        itc.enqueue(d['img_m'][step][sl], d['txt_m'][step][sl],
                    d['queue_pids'][step][sl])
        ptrs.append(int(itc.queue_ptr))
    # queue_size 6 is a multiple of the local batch 2, not of the global 4
    bad = MomentumITCLoss(embed_dim=4, queue_size=6)
    try:
        bad.enqueue(d['img_m'][0][sl], d['txt_m'][0][sl],
                    d['queue_pids'][0][sl])
        error = None
    except ValueError as e:
        error = str(e)
    return dict(image_queue=itc.image_queue.clone(),
                text_queue=itc.text_queue.clone(),
                pid_queue=itc.pid_queue.clone(), ptrs=ptrs, error=error)


def _check_metric(rank, d, tmp_dir):
    from mmengine.dataset import DefaultSampler

    from tbps.evaluation.metrics import TextToImageRetrievalMetric
    samples = _retrieval_samples()
    sampler = DefaultSampler(samples, shuffle=False, round_up=True)
    indices = list(sampler)
    out = dict(indices=indices)
    for device in ('cpu', 'gpu'):  # 'gpu' = all_gather_object (gloo here)
        # an explicit collect_dir: by default mmengine makes ./.dist_test
        metric = TextToImageRetrievalMetric(
            collect_device=device,
            collect_dir=os.path.join(tmp_dir, 'collect')
            if device == 'cpu' else None)
        for a in range(0, len(indices), 3):  # batches of 3
            metric.process(None, [samples[i] for i in indices[a:a + 3]])
        out[device] = metric.evaluate(len(samples))
    return out


def _checks(rank, out_dir):
    d = _data()
    results = {}
    for name, check in (('gather', _check_gather),
                        ('infonce', _check_infonce),
                        ('enqueue', _check_enqueue)):
        results[name] = check(rank, d)
    results['metric'] = _check_metric(rank, d, out_dir)
    return results


@pytest.fixture(scope='module')
def dist_results(tmp_path_factory):
    return run_gloo(_checks, str(tmp_path_factory.mktemp('dist')),
                    world=WORLD)


# ------------------------------------------------------------------ tests
def test_all_gather_values_in_rank_order(dist_results):
    d = _data()
    for res in dist_results:
        r = res['gather']
        torch.testing.assert_close(r['gathered'], d['x'], rtol=0, atol=0)
        torch.testing.assert_close(r['no_grad'], d['x'], rtol=0, atol=0)
        assert not r['no_grad_requires_grad']
        assert torch.equal(r['pids'], d['pids'])
        rows = torch.cat([d['x'][:n + 1] for n in range(WORLD)])
        assert torch.equal(r['uneven'], rows)
        assert torch.equal(r['uneven_no_grad'], torch.cat(
            [d['pids'][:n + 1] for n in range(WORLD)]))
    # each rank's rows get the sum over ranks of the loss weights (r + 1)
    total = sum(r + 1 for r in range(WORLD))
    for res in dist_results:
        grad = res['gather']['uneven_grad']
        assert torch.allclose(grad, torch.full_like(grad, float(total)))


def test_all_gather_with_grad_sums_gradients_of_all_ranks(dist_results):
    """Rank r's input gradient is the slice of the gradient of the sum of
    every rank's loss, computed by one process on the full batch."""
    d = _data()
    x = d['x'].clone().requires_grad_(True)
    total = sum(
        _gather_loss(x[r * B:(r + 1) * B], x, d['A'][r], d['v'][r])
        for r in range(WORLD))
    total.backward()
    for r, res in enumerate(dist_results):
        torch.testing.assert_close(res['gather']['grad'],
                                   x.grad[r * B:(r + 1) * B],
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('use_pids', [True, False])
def test_infonce_matches_single_process(dist_results, use_pids):
    from tbps.models.losses import InfoNCELoss
    d = _data()
    res = [r['infonce'][use_pids] for r in dist_results]

    # mean of the ranks' losses == loss on the full batch
    loss_fn = InfoNCELoss(use_pids=use_pids)
    img = d['img'].clone().requires_grad_(True)
    txt = d['txt'].clone().requires_grad_(True)
    ref = loss_fn(img, txt, d['pids'])
    ref.backward()
    assert sum(r['loss'] for r in res) / WORLD == pytest.approx(
        ref.item(), abs=1e-5)
    # the temperature gradient, averaged as DDP does
    torch.testing.assert_close(
        sum(r['temp_grad'] for r in res) / WORLD,
        loss_fn.log_inv_temperature.grad, rtol=1e-5, atol=1e-6)
    # feature gradients: W x the single-process slice (DDP divides by W)
    for r, rr in enumerate(res):
        sl = slice(r * B, (r + 1) * B)
        torch.testing.assert_close(rr['img_grad'], WORLD * img.grad[sl],
                                   rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(rr['txt_grad'], WORLD * txt.grad[sl],
                                   rtol=1e-4, atol=1e-6)

    # through real DDP: every parameter gradient equals the single process
    model = _TinyCLIP(use_pids)
    ref = model(d['img_in'], d['txt_in'], d['pids'])
    ref.backward()
    assert sum(r['ddp_loss'] for r in res) / WORLD == pytest.approx(
        ref.item(), abs=1e-5)
    for name, p in model.named_parameters():
        for rr in res:
            torch.testing.assert_close(rr['ddp_grads'][name], p.grad,
                                       rtol=1e-4, atol=1e-6, msg=name)


def test_momentum_itc_enqueue_gathers_all_ranks(dist_results):
    d = _data()
    r0, r1 = (r['enqueue'] for r in dist_results)
    for key in ('image_queue', 'text_queue', 'pid_queue'):
        assert torch.equal(r0[key], r1[key]), key
    # global batch 4 per step, queue 8: written at 0..3, then 4..7, wraps
    assert r0['ptrs'] == r1['ptrs'] == [4, 0]
    for step in range(2):
        cols = slice(4 * step, 4 * step + 4)
        torch.testing.assert_close(r0['image_queue'][:, cols],
                                   d['img_m'][step].t(), rtol=0, atol=0)
        torch.testing.assert_close(r0['text_queue'][:, cols],
                                   d['txt_m'][step].t(), rtol=0, atol=0)
        assert torch.equal(r0['pid_queue'][cols], d['queue_pids'][step])
    for r in (r0, r1):
        assert r['error'] is not None
        assert 'queue_size 6' in r['error']
        assert 'global batch size 4' in r['error']


@pytest.mark.parametrize('collect_device', ['cpu', 'gpu'])
def test_retrieval_metric_matches_single_process(dist_results,
                                                 collect_device):
    from tbps.evaluation.metrics import TextToImageRetrievalMetric
    r0, r1 = (r['metric'] for r in dist_results)
    # DefaultSampler(shuffle=False, round_up=True): 13 records, 7 per rank,
    # rank 1 ends with the padding duplicate of record 0
    assert r0['indices'] == list(range(0, 13, 2))
    assert r1['indices'] == list(range(1, 13, 2)) + [0]

    metric = TextToImageRetrievalMetric()
    samples = _retrieval_samples()
    metric.process(None, samples)
    expected = metric.evaluate(len(samples))
    assert 0 < expected['R1'] < 100  # a non-trivial ranking
    for r in (r0, r1):  # mmengine broadcasts rank 0's metrics
        assert r[collect_device].keys() == expected.keys()
        for k, v in expected.items():
            assert r[collect_device][k] == pytest.approx(v, abs=1e-6), k
