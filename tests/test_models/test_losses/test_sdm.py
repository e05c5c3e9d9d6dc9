"""SDMLoss: hand-computed cases, duplicate pids, gradients, limits."""
import math

import pytest
import torch
import torch.nn.functional as F

from tbps.registry import MODELS


def reference_sdm(img, txt, pids, tau, eps=1e-8):
    """Per-row loop of KL(softmax(s / tau) || q) with q from pid equality,
    image-to-text plus text-to-image, each averaged over rows."""
    img, txt = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
    sim = img @ txt.t()
    n = len(pids)
    total = 0.0
    for s in (sim, sim.t()):
        for i in range(n):
            count = sum(1 for j in range(n) if pids[j] == pids[i])
            z = sum(math.exp(float(s[i, k]) / tau) for k in range(n))
            for j in range(n):
                p = math.exp(float(s[i, j]) / tau) / z
                q = (1.0 if pids[j] == pids[i] else 0.0) / count
                total += p * (math.log(p) - math.log(q + eps)) / n
    return total


def test_contract_build_and_2x2_by_hand():
    """Orthogonal unit features, unique pids, tau = 1:
    s = [[1, 0], [0, 1]] in both directions, so every row has
    p = (e/(e+1), 1/(e+1)) against q = (1, 0)."""
    loss = MODELS.build(dict(type='SDMLoss', temperature=1.0))
    img = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # norms must not matter
    e = math.e
    p_pos, p_neg = e / (e + 1), 1 / (e + 1)
    row = (p_pos * (math.log(p_pos) - math.log(1 + 1e-8)) +
           p_neg * (math.log(p_neg) - math.log(1e-8)))
    expected = 2 * row  # mean over identical rows, i2t + t2i
    out = loss(img, txt, torch.tensor([0, 1]))
    assert out.dim() == 0
    assert out.item() == pytest.approx(expected, rel=1e-5)


def test_3x3_with_shared_pid_by_hand():
    """Pids (7, 7, 9): rows 0 and 1 have q = (1/2, 1/2, 0), row 2 has
    q = (0, 0, 1). Image i equals text i (s_ii = 1), tau = 0.5."""
    tau = 0.5
    feats = torch.tensor([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
    pids = torch.tensor([7, 7, 9])
    sim = feats @ feats.t()  # symmetric: i2t and t2i rows coincide
    q = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    rows = []
    for i in range(3):
        logits = [float(sim[i, j]) / tau for j in range(3)]
        z = sum(math.exp(v) for v in logits)
        p = [math.exp(v) / z for v in logits]
        rows.append(sum(p[j] * (math.log(p[j]) - math.log(float(q[i, j]) +
                                                           1e-8))
                        for j in range(3)))
    expected = 2 * sum(rows) / 3
    loss = MODELS.build(dict(type='SDMLoss', temperature=tau))
    assert loss(feats, feats, pids).item() == pytest.approx(expected,
                                                            rel=1e-5)


def test_matches_loop_reference_with_repeated_pids():
    torch.manual_seed(0)
    img, txt = torch.randn(6, 8), torch.randn(6, 8)
    pids = torch.tensor([3, 3, 1, 5, 5, 5])
    loss = MODELS.build(dict(type='SDMLoss', temperature=0.1))
    expected = reference_sdm(img, txt, pids.tolist(), 0.1)
    assert loss(img, txt, pids).item() == pytest.approx(expected, rel=1e-4)


def test_near_zero_when_peaked_and_grows_when_wrong():
    loss = MODELS.build(dict(type='SDMLoss', temperature=0.02))
    eye = torch.eye(4)
    pids = torch.arange(4)
    right = loss(eye, eye, pids)
    assert abs(right.item()) < 1e-6  # log(1 + eps) makes it -1e-20ish
    # matching captions permuted: every row's mass lands on a wrong identity
    wrong = loss(eye, eye[[1, 2, 3, 0]], pids)
    assert wrong.item() > 30  # ~ 2 * log(1 / eps) = 36.8
    # a partially right matrix lies in between
    half = loss(eye, eye[[0, 1, 3, 2]], pids)
    assert right < half < wrong


def test_uniform_over_same_pid_is_optimal():
    """Two captions of one identity: equal mass on both gives KL ~ 0; all
    mass on one of them gives KL = log 2 for each of those rows."""
    loss = MODELS.build(dict(type='SDMLoss', temperature=0.02))
    pids = torch.tensor([0, 0, 1])
    same = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert loss(same, same, pids).item() < 1e-6
    apart = torch.eye(3)  # rows 0 and 1 only match their own caption
    expected = 2 * (2 / 3) * math.log(2)  # two rows of three, both ways
    assert loss(apart, apart, pids).item() == pytest.approx(expected,
                                                            rel=1e-4)


def test_gradients_flow_to_both_modalities():
    torch.manual_seed(1)
    img = torch.randn(5, 4, requires_grad=True)
    txt = torch.randn(5, 4, requires_grad=True)
    out = MODELS.build(dict(type='SDMLoss'))(img, txt,
                                             torch.tensor([0, 0, 1, 2, 3]))
    out.backward()
    assert torch.isfinite(out)
    assert img.grad.abs().sum() > 0 and txt.grad.abs().sum() > 0


def test_temperature_is_fixed_and_weight_is_the_retrievers():
    loss = MODELS.build(dict(type='SDMLoss', temperature=0.02))
    assert not list(loss.parameters())
    # One loss-weight knob: the retriever's loss_weights, not the loss's.
    with pytest.raises(TypeError, match='loss_weight'):
        MODELS.build(dict(type='SDMLoss', loss_weight=0.5))
    with pytest.raises(ValueError, match='temperature'):
        MODELS.build(dict(type='SDMLoss', temperature=0.0))
