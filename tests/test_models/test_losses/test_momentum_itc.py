"""MomentumITCLoss (ALBEF's ITC with momentum features, queues and
momentum distillation) against a per-row reference written out here:

    T' = [t'; queue_t],  V' = [v'; queue_v],  P = [pids; pid_queue]
    q[i, j] = 1[pid_i == P_j] / #{j : pid_i == P_j}   (pid -1 never matches)
    y_i2t = alpha softmax(v'_i T'^T / tau) + (1 - alpha) q_i
    y_t2i = alpha softmax(t'_i V'^T / tau) + (1 - alpha) q_i
    L = 1/2 [ mean_i -sum_j y_i2t[j] log softmax(v_i T'^T / tau)_j
            + mean_i -sum_j y_t2i[j] log softmax(t_i V'^T / tau)_j ]
"""
import math

import pytest
import torch
import torch.nn.functional as F

from tbps.models.losses import MomentumITCLoss, pid_targets

B, D, Q = 4, 6, 4
PIDS = [0, 0, 1, 2]
# queue: a past sample of pid 1, an empty slot, a past pid 0, another pid
PID_QUEUE = [1, -1, 0, 7]
# q written out by hand for columns [batch 0..3 | queue 0..3]
# (all pids: 0, 0, 1, 2 | 1, -1, 0, 7)
Q_TARGETS = torch.tensor([
    [1 / 3, 1 / 3, 0, 0, 0, 0, 1 / 3, 0],  # pid 0: batch 0, 1, queue 2
    [1 / 3, 1 / 3, 0, 0, 0, 0, 1 / 3, 0],
    [0, 0, 1 / 2, 0, 1 / 2, 0, 0, 0],      # pid 1: batch 2, queue 0
    [0, 0, 0, 1, 0, 0, 0, 0],              # pid 2: itself only
])


def unit(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(*shape, generator=g), dim=-1)


def make_inputs():
    return dict(v=unit(B, D, seed=0), t=unit(B, D, seed=1),
                v_m=unit(B, D, seed=2), t_m=unit(B, D, seed=3),
                queue_v=unit(Q, D, seed=4), queue_t=unit(Q, D, seed=5))


def make_loss(x, alpha, temperature=0.07):
    loss = MomentumITCLoss(embed_dim=D, queue_size=Q,
                           temperature=temperature, alpha=alpha)
    with torch.no_grad():
        loss.image_queue.copy_(x['queue_v'].t())  # queues are [D, Q]
        loss.text_queue.copy_(x['queue_t'].t())
        loss.pid_queue.copy_(torch.tensor(PID_QUEUE))
    return loss


def log_softmax_row(logits):
    """z_j - log sum_k exp(z_k), shifted by the max (tau can be 0.001)."""
    z = [float(a) for a in logits]
    top = max(z)
    log_sum = top + math.log(sum(math.exp(a - top) for a in z))
    return [a - log_sum for a in z]


def reference_targets(pids, pid_queue):
    """q[i, j] = 1[pid_i == P_j] / n_i over P = pids + pid_queue; the
    empty slots (-1) never count."""
    all_pids = list(pids) + list(pid_queue)
    targets = []
    for p in pids:
        pos = [j for j, pj in enumerate(all_pids) if pj == p and pj >= 0]
        targets.append([1 / len(pos) if j in pos else 0.0
                        for j in range(len(all_pids))])
    return targets


def reference(x, alpha, tau, targets=None, pid_queue=PID_QUEUE):
    """Row-by-row ALBEF ITC with momentum distillation (plain Python)."""
    all_t = torch.cat([x['t_m'], x['queue_t']])
    all_v = torch.cat([x['v_m'], x['queue_v']])
    if targets is None:
        targets = reference_targets(PIDS, pid_queue)
    total = 0.0
    for online, mom, gallery in ((x['v'], x['v_m'], all_t),
                                 (x['t'], x['t_m'], all_v)):
        ce = 0.0
        for i in range(B):
            soft = [math.exp(a)
                    for a in log_softmax_row(mom[i] @ gallery.t() / tau)]
            logp = log_softmax_row(online[i] @ gallery.t() / tau)
            y = [alpha * s + (1 - alpha) * float(q)
                 for s, q in zip(soft, targets[i])]
            ce += -sum(yj * lp for yj, lp in zip(y, logp))
        total += ce / B
    return total / 2


def call(loss, x):
    return loss(x['v'], x['t'], x['v_m'], x['t_m'], torch.tensor(PIDS))


def test_hand_written_targets_follow_the_pid_convention():
    # the reference's target rule reproduces the matrix written by hand
    torch.testing.assert_close(
        torch.tensor(reference_targets(PIDS, PID_QUEUE)), Q_TARGETS)
    # and so does the loss's target helper on the joined pids
    torch.testing.assert_close(
        pid_targets(torch.tensor(PIDS), torch.tensor(PIDS + PID_QUEUE)),
        Q_TARGETS)


def test_alpha_zero_is_cross_entropy_to_pid_targets():
    x = make_inputs()
    loss = make_loss(x, alpha=0.0)
    out = call(loss, x)
    tau = 0.07
    # -sum_j q_ij log p_ij with the hand-written q, averaged, both ways
    all_t = torch.cat([x['t_m'], x['queue_t']])
    all_v = torch.cat([x['v_m'], x['queue_v']])
    logp_i2t = F.log_softmax(x['v'] @ all_t.t() / tau, dim=1)
    logp_t2i = F.log_softmax(x['t'] @ all_v.t() / tau, dim=1)
    expected = -((Q_TARGETS * logp_i2t).sum(1).mean() +
                 (Q_TARGETS * logp_t2i).sum(1).mean()) / 2
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-6)
    assert out.item() == pytest.approx(
        reference(x, 0.0, tau, targets=Q_TARGETS.tolist()), rel=1e-5)


def test_empty_queue_slot_is_never_positive():
    """Making the unfilled slot (pid -1) the best match of every query
    changes the loss only through the softmax denominators, never as a
    target: with alpha=0 the loss equals the reference with zero weight
    on that column."""
    x = make_inputs()
    x['queue_t'][1] = x['v'][0]
    x['queue_v'][1] = x['t'][0]
    out = call(make_loss(x, alpha=0.0), x)
    assert Q_TARGETS[:, B + 1].abs().sum() == 0
    assert out.item() == pytest.approx(
        reference(x, 0.0, 0.07, targets=Q_TARGETS.tolist()), rel=1e-5)
    # a target on that slot would give a visibly different loss
    wrong = Q_TARGETS.clone()
    wrong[0] = torch.tensor([0.25, 0.25, 0, 0, 0, 0.25, 0.25, 0])
    assert abs(out.item() - reference(x, 0.0, 0.07,
                                      targets=wrong.tolist())) > 1e-3


@pytest.mark.parametrize('alpha', [0.4, 1.0])
def test_momentum_distillation_matches_reference(alpha):
    x = make_inputs()
    out = call(make_loss(x, alpha=alpha), x)
    assert out.item() == pytest.approx(reference(x, alpha, 0.07), rel=1e-5)
    # distillation changes the loss: alpha matters
    assert abs(out.item() - reference(x, 0.0, 0.07)) > 1e-3


def test_gradients():
    x = make_inputs()
    base = call(make_loss(x, alpha=0.4), x)
    loss = MomentumITCLoss(embed_dim=D, queue_size=Q, alpha=0.4)
    loss.load_state_dict(make_loss(x, alpha=0.4).state_dict())
    v = x['v'].clone().requires_grad_(True)
    t = x['t'].clone().requires_grad_(True)
    out = loss(v, t, x['v_m'], x['t_m'], torch.tensor(PIDS))
    assert out.item() == pytest.approx(base.item(), rel=1e-6)
    out.backward()
    assert v.grad.abs().sum() > 0 and t.grad.abs().sum() > 0
    assert loss.log_temperature.grad is not None
    assert loss.log_temperature.grad.abs() > 0


def test_temperature_is_clamped():
    x = make_inputs()
    loss = make_loss(x, alpha=0.4)
    assert loss.temperature.item() == pytest.approx(0.07, rel=1e-6)
    with torch.no_grad():
        loss.log_temperature.fill_(math.log(1e-5))
    assert loss.temperature.item() == pytest.approx(0.001, rel=1e-6)
    assert call(loss, x).item() == pytest.approx(
        reference(x, 0.4, 0.001), rel=1e-4)
    with torch.no_grad():
        loss.log_temperature.fill_(math.log(5.0))
    assert loss.temperature.item() == pytest.approx(1.0, rel=1e-6)
    assert call(loss, x).item() == pytest.approx(
        reference(x, 0.4, 1.0), rel=1e-5)
    # a custom lower bound
    low = MomentumITCLoss(embed_dim=D, queue_size=Q, temperature=0.01,
                          min_temperature=0.05)
    assert low.temperature.item() == pytest.approx(0.05, rel=1e-6)


def test_enqueue_writes_at_the_pointer_and_wraps():
    loss = MomentumITCLoss(embed_dim=3, queue_size=6)
    assert (loss.pid_queue == -1).all() and int(loss.queue_ptr) == 0
    initial_v = loss.image_queue.clone()
    batches = []
    for step in range(4):  # 2 rows a step: slots 0-1, 2-3, 4-5, 0-1 again
        img, txt = unit(2, 3, seed=10 + step), unit(2, 3, seed=20 + step)
        pids = torch.tensor([100 + 2 * step, 101 + 2 * step])
        batches.append((img, txt, pids))
        loss.enqueue(img, txt, pids)
        assert int(loss.queue_ptr) == [2, 4, 0, 2][step]
        if step == 0:
            # the rest of the queue is untouched
            torch.testing.assert_close(loss.image_queue[:, 2:],
                                       initial_v[:, 2:], rtol=0, atol=0)
            assert loss.pid_queue.tolist() == [100, 101, -1, -1, -1, -1]
    # slots 0-1 hold the 4th batch (wrapped), 2-3 the 2nd, 4-5 the 3rd
    for slots, step in ((slice(0, 2), 3), (slice(2, 4), 1),
                        (slice(4, 6), 2)):
        img, txt, pids = batches[step]
        torch.testing.assert_close(loss.image_queue[:, slots], img.t(),
                                   rtol=0, atol=0)
        torch.testing.assert_close(loss.text_queue[:, slots], txt.t(),
                                   rtol=0, atol=0)
        assert loss.pid_queue[slots].tolist() == pids.tolist()


def test_enqueued_features_enter_the_next_loss():
    x = make_inputs()
    loss = make_loss(x, alpha=0.0)
    # overwrite the whole queue with this batch's momentum features
    loss.enqueue(x['v_m'], x['t_m'], torch.tensor(PIDS))
    assert int(loss.queue_ptr) == 0
    x2 = dict(x, queue_v=x['v_m'], queue_t=x['t_m'])
    expected = reference(x2, 0.0, 0.07, pid_queue=PIDS)
    assert call(loss, x).item() == pytest.approx(expected, rel=1e-5)


def test_queue_size_must_divide_by_the_batch():
    loss = MomentumITCLoss(embed_dim=3, queue_size=8)
    with pytest.raises(ValueError, match='divisible by the global batch'):
        loss.enqueue(unit(3, 3, seed=0), unit(3, 3, seed=1),
                     torch.tensor([0, 1, 2]))
    assert int(loss.queue_ptr) == 0 and (loss.pid_queue == -1).all()


def test_short_last_batch_wraps_around_the_queue():
    """An epoch's short last batch (no drop_last) is queued too, the
    writes wrapping past the end of the queue."""
    loss = MomentumITCLoss(embed_dim=4, queue_size=8)
    feats = torch.nn.functional.normalize(torch.randn(4, 4), dim=1)
    for batch, pid in ((4, 1), (2, 2), (4, 3)):
        loss.enqueue(feats[:batch], feats[:batch],
                     torch.full((batch, ), pid))
    assert int(loss.queue_ptr) == 2
    assert loss.pid_queue.tolist() == [3, 3, 1, 1, 2, 2, 3, 3]
    with pytest.raises(ValueError, match='divisible'):
        MomentumITCLoss(embed_dim=4, queue_size=8).enqueue(
            feats[:3], feats[:3], torch.zeros(3, dtype=torch.long))
