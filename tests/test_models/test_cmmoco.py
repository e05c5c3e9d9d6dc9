"""CM-MoCo (TextReID): CrossModalMoCoLoss against a literal reference,
its FIFO queues, AlignmentLoss and the weight-normalised IDLoss against
their formulas, and MomentumContrastRetriever built from
configs/cmmoco/cmmoco_synth.py (losses, EMA direction, queue contents)."""
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F

from tbps.models.losses.alignment import AlignmentLoss
from tbps.models.losses.cm_moco import CrossModalMoCoLoss
from tbps.models.losses.id_loss import IDLoss

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TAU = 0.07


def unit(*shape, seed, dim=-1):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=dim)


# -- CrossModalMoCoLoss ---------------------------------------------------
def reference_queue_loss(v, t, v_key, t_key, pids, image_queue, text_queue,
                         pid_queue):
    """TextReID written out: keep the queue columns whose pid is not in the
    batch (index selection), logits = [pos, neg] / tau, CE to label 0,
    the two directions summed."""
    batch_pids = set(pids.tolist())
    keep = torch.tensor([j for j, p in enumerate(pid_queue.tolist())
                         if p not in batch_pids], dtype=torch.long)
    total = 0
    for query, key, queue in ((v, t_key, text_queue), (t, v_key, image_queue)):
        pos = torch.einsum('nc,nc->n', query, key).unsqueeze(-1)
        neg = torch.einsum('nc,ck->nk', query, queue.index_select(1, keep))
        logits = torch.cat([pos, neg], dim=1) / TAU
        labels = torch.zeros(len(query), dtype=torch.long)
        total = total + F.cross_entropy(logits, labels)
    return total


def reference_inbatch_loss(v, t, v_key, t_key, pids):
    """Row i: positive key i, negatives the batch keys of other pids."""
    total = 0
    for query, key in ((v, t_key), (t, v_key)):
        rows = []
        for i in range(len(query)):
            others = [j for j in range(len(query)) if pids[j] != pids[i]]
            logits = torch.cat([(query[i] * key[i]).sum().view(1),
                                query[i] @ key[others].t()]) / TAU
            rows.append(torch.logsumexp(logits, 0) - logits[0])
        total = total + torch.stack(rows).mean()
    return total


@pytest.fixture
def moco_batch():
    """8 rows of 16-d unit features, pids with repeats, and a 24-slot
    queue holding some of the batch's pids, other pids and unwritten
    slots (-1)."""
    B, D, K = 8, 16, 24
    pids = torch.tensor([3, 3, 5, 7, 7, 9, 11, 12])
    pid_queue = torch.tensor([3, 100, 5, -1, 101, 7, 102, 103, 9, 104, 11,
                              105, 12, 106, 107, 3, 108, -1, 109, 110, 7,
                              111, 112, 113])
    assert len(pid_queue) == K
    return dict(v=unit(B, D, seed=0), t=unit(B, D, seed=1),
                v_key=unit(B, D, seed=2), t_key=unit(B, D, seed=3),
                pids=pids, image_queue=unit(D, K, seed=4, dim=0),
                text_queue=unit(D, K, seed=5, dim=0), pid_queue=pid_queue)


def loss_with_queue(b):
    loss = CrossModalMoCoLoss(embed_dim=16, queue_size=24, temperature=TAU)
    loss.image_queue.copy_(b['image_queue'])
    loss.text_queue.copy_(b['text_queue'])
    loss.pid_queue.copy_(b['pid_queue'])
    return loss


def test_moco_matches_textreid_reference(moco_batch):
    b = moco_batch
    loss = loss_with_queue(b)
    out = loss(b['v'], b['t'], b['v_key'], b['t_key'], b['pids'])
    expected = reference_queue_loss(**b)
    assert out.item() == pytest.approx(expected.item(), rel=1e-5)
    # the queue's batch-pid columns matter to a reference that keeps them:
    # the exclusion is real, not a no-op
    kept_all = reference_queue_loss(**dict(b, pids=torch.tensor([-7] * 8)))
    assert abs(kept_all.item() - out.item()) > 1e-3


def test_moco_ignores_queue_slots_of_batch_pids(moco_batch):
    b = moco_batch
    base = loss_with_queue(b)(b['v'], b['t'], b['v_key'], b['t_key'],
                              b['pids'])
    in_batch = torch.isin(b['pid_queue'], b['pids'])
    assert in_batch.sum() == 8
    changed = dict(b)
    for name, seed in (('image_queue', 10), ('text_queue', 11)):
        q = b[name].clone()
        q[:, in_batch] = unit(16, int(in_batch.sum()), seed=seed, dim=0)
        changed[name] = q
    out = loss_with_queue(changed)(b['v'], b['t'], b['v_key'], b['t_key'],
                                   b['pids'])
    assert out.item() == pytest.approx(base.item(), rel=1e-6)
    # while a slot of another identity does change it
    other = dict(b)
    q = b['text_queue'].clone()
    q[:, 1] = -q[:, 1]  # pid 100, not in the batch
    other['text_queue'] = q
    out = loss_with_queue(other)(b['v'], b['t'], b['v_key'], b['t_key'],
                                 b['pids'])
    assert abs(out.item() - base.item()) > 1e-4


def test_moco_gradient_survives_enqueue(moco_batch):
    """forward -> enqueue -> backward: the queues are overwritten in place
    between the forward and the backward (as in the retriever), so the
    loss must have used copies. The gradient is the reference's, computed
    on the queue as it was at forward time."""
    b = moco_batch
    loss = loss_with_queue(b)
    v = b['v'].clone().requires_grad_(True)
    t = b['t'].clone().requires_grad_(True)
    out = loss(v, t, b['v_key'], b['t_key'], b['pids'])
    # the first write is slot 0.. (pointer 0): queue_size 24 % 8 == 0
    loss.enqueue(b['v_key'], b['t_key'], b['pids'])
    assert torch.equal(loss.text_queue[:, :8], b['t_key'].t())
    out.backward()
    assert v.grad.abs().sum() > 0 and t.grad.abs().sum() > 0
    v2 = b['v'].clone().requires_grad_(True)
    t2 = b['t'].clone().requires_grad_(True)
    reference_queue_loss(**dict(b, v=v2, t=t2)).backward()
    assert torch.allclose(v.grad, v2.grad, atol=1e-5)
    assert torch.allclose(t.grad, t2.grad, atol=1e-5)


def test_enqueue_fifo_wraps_and_stores_pids():
    loss = CrossModalMoCoLoss(embed_dim=4, queue_size=8)
    assert loss.pid_queue.tolist() == [-1] * 8
    assert int(loss.queue_ptr) == 0

    def put(n, seed, pid0):
        img, txt = unit(n, 4, seed=seed), unit(n, 4, seed=seed + 50)
        pids = torch.arange(pid0, pid0 + n)
        loss.enqueue(img, txt, pids)
        return img, txt, pids

    img, txt, pids = put(4, 0, 10)  # slots 0-3
    assert int(loss.queue_ptr) == 4
    assert torch.equal(loss.image_queue[:, :4], img.t())
    assert torch.equal(loss.text_queue[:, :4], txt.t())
    assert loss.pid_queue.tolist() == [10, 11, 12, 13, -1, -1, -1, -1]
    img, txt, pids = put(3, 1, 20)  # a short batch: slots 4-6
    assert int(loss.queue_ptr) == 7
    assert loss.pid_queue.tolist() == [10, 11, 12, 13, 20, 21, 22, -1]
    img, txt, pids = put(4, 2, 30)  # slots 7, 0, 1, 2: wraps around
    assert int(loss.queue_ptr) == 3
    assert loss.pid_queue.tolist() == [31, 32, 33, 13, 20, 21, 22, 30]
    slots = [7, 0, 1, 2]
    assert torch.equal(loss.image_queue[:, slots], img.t())
    assert torch.equal(loss.text_queue[:, slots], txt.t())


def test_queue_size_must_divide_first_batch():
    loss = CrossModalMoCoLoss(embed_dim=4, queue_size=10)
    with pytest.raises(ValueError, match='divisible'):
        loss.enqueue(unit(4, 4, seed=0), unit(4, 4, seed=1),
                     torch.arange(4))
    assert int(loss.queue_ptr) == 0
    assert loss.pid_queue.tolist() == [-1] * 10
    # a batch larger than the queue, even dividing it... never fits
    loss = CrossModalMoCoLoss(embed_dim=4, queue_size=4)
    with pytest.raises(ValueError, match='queue_size 4'):
        loss.enqueue(unit(8, 4, seed=0), unit(8, 4, seed=1),
                     torch.arange(8))


def test_inbatch_mode_matches_reference(moco_batch):
    b = moco_batch
    loss = CrossModalMoCoLoss(embed_dim=16, queue_size=0)
    assert not any(True for _ in loss.buffers())  # no queues
    v = b['v'].clone().requires_grad_(True)
    out = loss(v, b['t'], b['v_key'], b['t_key'], b['pids'])
    expected = reference_inbatch_loss(b['v'], b['t'], b['v_key'],
                                      b['t_key'], b['pids'])
    assert expected.item() > 0.1
    assert out.item() == pytest.approx(expected.item(), rel=1e-5)
    out.backward()
    assert v.grad.abs().sum() > 0
    # enqueue is a no-op
    loss.enqueue(b['v_key'], b['t_key'], b['pids'])


# -- AlignmentLoss --------------------------------------------------------
def reference_alignment(v, t, pids, alpha=0.6, beta=0.4, sp=10.0, sn=40.0):
    v, t = v.double(), t.double()
    total = 0.0
    B = len(v)
    for i in range(B):
        for j in range(B):
            s = float(v[i] @ t[j] / (v[i].norm() * t[j].norm()))
            if pids[i] == pids[j]:
                total += math.log1p(math.exp(-sp * (s - alpha)))
            else:
                total += math.log1p(math.exp(sn * (s - beta)))
    return 2.0 / B * total


def test_alignment_matches_formula():
    g = torch.Generator().manual_seed(0)
    v, t = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    t[0] = v[0] + 0.1 * t[0]  # a high positive similarity
    pids = torch.tensor([0, 0, 1, 2, 2, 2])
    out = AlignmentLoss()(v, t, pids)
    assert out.item() == pytest.approx(reference_alignment(v, t, pids),
                                       rel=1e-5)
    # other margins and scales are honoured
    out = AlignmentLoss(alpha=0.3, beta=0.1, scale_pos=5,
                        scale_neg=20)(v, t, pids)
    assert out.item() == pytest.approx(
        reference_alignment(v, t, pids, 0.3, 0.1, 5, 20), rel=1e-5)


def test_alignment_hand_computed():
    """One pair of identical vectors: S = 1, positive term only:
    2/1 * log(1 + exp(-10 * 0.4))."""
    x = torch.tensor([[1.0, 2.0]])
    out = AlignmentLoss()(x, x, torch.tensor([4]))
    assert out.item() == pytest.approx(2 * math.log1p(math.exp(-4)),
                                       rel=1e-6)


def test_alignment_scale_invariant():
    g = torch.Generator().manual_seed(1)
    v, t = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    pids = torch.tensor([1, 2, 2, 3, 1])
    base = AlignmentLoss()(v, t, pids)
    scale_v = torch.rand(5, 1, generator=g) * 10 + 0.1
    scale_t = torch.rand(5, 1, generator=g) * 10 + 0.1
    out = AlignmentLoss()(v * scale_v, t * scale_t, pids)
    assert out.item() == pytest.approx(base.item(), rel=1e-5)


# -- IDLoss options -------------------------------------------------------
def test_id_loss_normalized_weight_without_bias():
    torch.manual_seed(0)
    loss = IDLoss(num_classes=5, in_dim=6, normalize_weight=True, bias=False)
    assert [n for n, _ in loss.named_parameters()] == ['classifier.weight']
    assert loss.classifier.bias is None
    img, txt = torch.randn(4, 6), torch.randn(4, 6)
    pids = torch.tensor([0, 4, 2, 2])
    base = loss(img, txt, pids)
    # the explicit formula: logits x W^T / |W_c|
    w = loss.classifier.weight.detach()
    expected = sum(F.cross_entropy(x @ (w / w.norm(dim=1, keepdim=True)).t(),
                                   pids) for x in (img, txt)) / 2
    assert base.item() == pytest.approx(expected.item(), rel=1e-6)
    with torch.no_grad():
        loss.classifier.weight.mul_(torch.tensor([[0.1], [3.0], [7.5],
                                                  [0.02], [1.7]]))
    assert loss(img, txt, pids).item() == pytest.approx(base.item(),
                                                        rel=1e-5)
    # without normalize_weight the same rescaling changes the loss
    plain = IDLoss(num_classes=5, in_dim=6, init_std=1.0, bias=False)
    before = plain(img, txt, pids).item()
    with torch.no_grad():
        plain.classifier.weight.mul_(torch.tensor([[0.1], [3.0], [7.5],
                                                   [0.02], [1.7]]))
    assert abs(plain(img, txt, pids).item() - before) > 1e-3


# -- MomentumContrastRetriever ---------------------------------------------
def build_retriever(**loss_weights):
    from mmengine.config import Config

    from tbps.registry import MODELS
    from tbps.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'cmmoco',
                                   'cmmoco_synth.py'))
    cfg.model.moco.queue_size = 64
    cfg.model.loss_weights.update(loss_weights)
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def train_batch(model, n=8):
    from tbps.structures import TBPSDataSample
    g = torch.Generator().manual_seed(0)
    images = [torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8,
                            generator=g) for _ in range(n)]
    colours = ['red', 'blue', 'green', 'black', 'white', 'grey', 'pink',
               'brown']
    samples = [TBPSDataSample(metainfo=dict(
        caption=f'a man in a {colours[i]} shirt' + ' and long trousers' *
        (i % 3), pid=i // 2, modality='pair')) for i in range(n)]
    return model.data_preprocessor(dict(inputs=images, data_samples=samples),
                                   True)


def test_retriever_momentum_and_queue():
    model = build_retriever()
    model.train()
    data = train_batch(model)
    pids = torch.tensor([i // 2 for i in range(8)])
    name = 'image_encoder.conv1.weight'
    online = model.get_parameter(name)
    momentum = model.momentum_encoders.module.get_parameter(name)
    before = online.detach().clone()

    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_moco', 'loss_align', 'loss_id'}
    assert all(torch.isfinite(v) and v.item() > 0 for v in losses.values())
    # the first update copies the online encoders
    assert torch.equal(momentum, before)
    assert model.moco.pid_queue[:8].tolist() == pids.tolist()
    assert model.moco.pid_queue[8:].tolist() == [-1] * 56
    assert int(model.moco.queue_ptr) == 8

    params = [p for p in model.parameters() if p.requires_grad]
    assert not any(p is momentum for p in params)
    optim = torch.optim.SGD(params, lr=0.5)
    optim.zero_grad()
    sum(losses.values()).backward()
    assert online.grad.abs().sum() > 0
    optim.step()
    after = online.detach().clone()
    assert (after - before).abs().max() > 1e-4

    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_moco'])
    m = 0.999
    assert torch.allclose(momentum, m * before + (1 - m) * after, atol=1e-7)
    assert (momentum - after).abs().max() > 1e-5
    # text side too (the GRU is in the momentum copy)
    gru = 'text_encoder.gru.weight_ih_l0'
    assert not torch.equal(model.momentum_encoders.module.get_parameter(gru),
                           model.get_parameter(gru))
    # the queue: both batches, in order; the text keys are the momentum
    # text encoder's features through the online projection, normalised
    assert model.moco.pid_queue[:16].tolist() == pids.tolist() * 2
    assert int(model.moco.queue_ptr) == 16
    with torch.no_grad():
        text = data['inputs']['text']
        keys = F.normalize(model.text_proj(model.momentum_encoders.module
                                           .text_encoder(
                                               text['input_ids'],
                                               text['attention_mask'])[0]),
                           dim=-1)
    assert torch.allclose(model.moco.text_queue[:, 8:16], keys.t(),
                          atol=1e-5)


def test_retriever_moco_weight_zero_skips_momentum():
    model = build_retriever(moco=0.0)
    model.train()
    queue = model.moco.image_queue.clone()
    name = 'text_encoder.gru.weight_hh_l0'
    momentum = model.momentum_encoders.module.get_parameter(name)
    stale = momentum.detach().clone()
    with torch.no_grad():
        model.get_parameter(name).add_(1.0)  # would be copied by an update
    losses = model(**train_batch(model), mode='loss')
    assert set(losses) == {'loss_align', 'loss_id'}
    assert int(model.momentum_encoders.steps) == 0
    assert torch.equal(momentum, stale)
    assert int(model.moco.queue_ptr) == 0
    assert model.moco.pid_queue.tolist() == [-1] * 64
    assert torch.equal(model.moco.image_queue, queue)
