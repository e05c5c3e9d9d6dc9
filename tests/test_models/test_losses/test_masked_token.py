"""MaskedTokenLoss: cross-entropy averaged over the positions whose label is
not the ignore index (-100), written out with log_softmax here."""
import math

import pytest
import torch
import torch.nn.functional as F

from tbps.models.losses import MaskedTokenLoss
from tbps.registry import MODELS


def reference(logits, labels, ignore_index=-100):
    """-1/|M| sum_{j in M} log softmax(logits_j)[y_j], M = labelled."""
    logits = logits.reshape(-1, logits.shape[-1])
    labels = labels.reshape(-1).tolist()
    logp = F.log_softmax(logits.double(), dim=-1)
    terms = [-logp[j, y].item() for j, y in enumerate(labels)
             if y != ignore_index]
    return sum(terms) / len(terms)


def test_hand_computed_two_positions():
    # two sequences of 3 tokens, vocabulary 3; positions (0, 1) and (1, 2)
    # are masked; the rest carry -100 and arbitrary (huge) logits
    logits = torch.zeros(2, 3, 3)
    logits[0, 1] = torch.tensor([0.0, math.log(3.0), 0.0])  # p(1) = 3/5
    logits[1, 2] = torch.tensor([2.0, 2.0, 2.0])            # p(0) = 1/3
    logits[0, 0] = torch.tensor([100.0, -100.0, 0.0])
    logits[1, 0] = torch.tensor([-50.0, 50.0, 0.0])
    labels = torch.tensor([[-100, 1, -100], [-100, -100, 0]])
    expected = (-math.log(3 / 5) - math.log(1 / 3)) / 2
    out = MaskedTokenLoss()(logits, labels)
    assert out.item() == pytest.approx(expected, rel=1e-6)


def test_random_logits_match_reference():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 7, 11, generator=g)
    labels = torch.randint(0, 11, (3, 7), generator=g)
    labels[torch.rand(3, 7, generator=g) < 0.6] = -100
    assert (labels != -100).sum() > 2
    out = MODELS.build(dict(type='MaskedTokenLoss'))(logits, labels)
    assert out.item() == pytest.approx(reference(logits, labels), rel=1e-5)


def test_ignored_positions_do_not_matter():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 6, generator=g, requires_grad=True)
    labels = torch.tensor([[3, -100, -100, 1, -100],
                           [-100, 0, -100, -100, 5]])
    loss = MaskedTokenLoss()
    out = loss(logits, labels)
    # changing the logits of ignored positions leaves the loss unchanged
    other = logits.detach().clone()
    other[labels == -100] = torch.randn(6, 6, generator=g) * 10
    assert loss(other, labels).item() == pytest.approx(out.item(), rel=1e-6)
    # and they receive no gradient
    out.backward()
    assert logits.grad[labels == -100].abs().sum() == 0
    assert (logits.grad[labels != -100].abs().sum(-1) > 0).all()
    # the mean is over the 4 labelled positions, not all 10
    assert out.item() == pytest.approx(reference(logits.detach(), labels),
                                       rel=1e-5)


def test_custom_ignore_index():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(6, 4, generator=g)
    labels = torch.tensor([0, 3, -1, 2, -1, -1])
    out = MaskedTokenLoss(ignore_index=-1)(logits, labels)
    assert out.item() == pytest.approx(reference(logits, labels, -1),
                                       rel=1e-5)


def test_nothing_masked_returns_zero_with_a_graph():
    logits = torch.randn(2, 4, 9, requires_grad=True)
    labels = torch.full((2, 4), -100)
    out = MaskedTokenLoss()(logits, labels)
    assert out.item() == 0.0 and torch.isfinite(out)
    assert out.requires_grad and out.grad_fn is not None
    out.backward()  # DDP needs every parameter in the graph
    assert logits.grad is not None and logits.grad.abs().sum() == 0
