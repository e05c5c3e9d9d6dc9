import math

import torch
import torch.nn.functional as F

from tbps.registry import MODELS


def reference_infonce(img, txt, pids, tau):
    """Direct per-row loop of the symmetric multi-positive InfoNCE."""
    img, txt = F.normalize(img, dim=-1), F.normalize(txt, dim=-1)
    sim = img @ txt.t() / tau
    total = 0.0
    for logits in (sim, sim.t()):
        for i in range(len(pids)):
            pos = [j for j in range(len(pids)) if pids[j] == pids[i]]
            logp = logits[i] - torch.logsumexp(logits[i], 0)
            total += -sum(logp[j] for j in pos) / len(pos) / len(pids)
    return total / 2


def test_matches_reference_with_repeated_pids():
    torch.manual_seed(0)
    img, txt = torch.randn(6, 8), torch.randn(6, 8)
    pids = torch.tensor([0, 0, 1, 2, 2, 2])
    loss = MODELS.build(dict(type='InfoNCELoss', temperature=0.05))
    expected = reference_infonce(img, txt, pids.tolist(), 0.05)
    assert torch.allclose(loss(img, txt, pids), expected, atol=1e-5)


def test_diagonal_targets_equal_clip_loss():
    torch.manual_seed(1)
    img, txt = torch.randn(5, 4), torch.randn(5, 4)
    loss = MODELS.build(dict(type='InfoNCELoss', temperature=0.1,
                             use_pids=False))
    logits = F.normalize(img, dim=-1) @ F.normalize(txt, dim=-1).t() / 0.1
    labels = torch.arange(5)
    clip = (F.cross_entropy(logits, labels) +
            F.cross_entropy(logits.t(), labels)) / 2
    assert torch.allclose(loss(img, txt, torch.arange(5)), clip, atol=1e-6)


def test_temperature_is_learnable_and_clamped():
    loss = MODELS.build(dict(type='InfoNCELoss', temperature=0.07,
                             max_inv_temperature=10.0))
    assert loss.log_inv_temperature.requires_grad
    assert math.isclose(float(loss.temperature), 0.1, rel_tol=1e-6)
    img = torch.randn(4, 3, requires_grad=True)
    out = loss(img, torch.randn(4, 3), torch.arange(4))
    out.backward()
    assert img.grad is not None and torch.isfinite(out)
    fixed = MODELS.build(dict(type='InfoNCELoss', learnable=False))
    assert not fixed.log_inv_temperature.requires_grad


def test_fixed_temperature_survives_a_loaded_learned_one():
    """Fine-tuning the fixed-temperature control from a checkpoint with a
    learned tau keeps the config's tau (the control would otherwise train
    at whatever tau the pre-training learned)."""
    learned = MODELS.build(dict(type='InfoNCELoss', temperature=0.07))
    with torch.no_grad():
        learned.log_inv_temperature.fill_(math.log(1 / 0.02))
    fixed = MODELS.build(dict(type='InfoNCELoss', temperature=0.07,
                              learnable=False))
    assert 'log_inv_temperature' not in fixed.state_dict()
    result = fixed.load_state_dict(learned.state_dict(), strict=False)
    assert result.unexpected_keys == ['log_inv_temperature']
    assert math.isclose(float(fixed.temperature), 0.07, rel_tol=1e-6)
    # the learnable loss saves and loads its tau
    fresh = MODELS.build(dict(type='InfoNCELoss', temperature=0.07))
    fresh.load_state_dict(learned.state_dict())
    assert math.isclose(float(fresh.temperature), 0.02, rel_tol=1e-6)
