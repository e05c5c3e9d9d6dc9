"""CMPMLoss: projection logits, L1 (paper) and L2 (IRRA code) labels."""
import math

import pytest
import torch
import torch.nn.functional as F

from tbps.registry import MODELS


def reference_cmpm(img, txt, pids, label_norm='l1', eps=1e-8):
    """Per-row loop: p_ij = softmax_j(x_i . z_j / |z_j|), KL to q."""
    n = len(pids)
    total = 0.0
    for a, b in ((img, txt), (txt, img)):
        b_unit = F.normalize(b, dim=-1)
        for i in range(n):
            count = sum(1 for j in range(n) if pids[j] == pids[i])
            norm = count if label_norm == 'l1' else math.sqrt(count)
            logits = [float(a[i] @ b_unit[j]) for j in range(n)]
            z = sum(math.exp(v) for v in logits)
            for j in range(n):
                p = math.exp(logits[j]) / z
                q = (1.0 if pids[j] == pids[i] else 0.0) / norm
                total += p * (math.log(p) - math.log(q + eps)) / n
    return total


def test_2x2_by_hand():
    """img = [[2, 0], [0, 1]], txt = [[3, 0], [0, 5]], unique pids.
    i2t logits = img @ unit(txt)^T = [[2, 0], [0, 1]];
    t2i logits = txt @ unit(img)^T = [[3, 0], [0, 5]]."""
    loss = MODELS.build(dict(type='CMPMLoss'))
    img = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    txt = torch.tensor([[3.0, 0.0], [0.0, 5.0]])

    def row(pos_logit):  # p = softmax([pos, 0]) against q = (1, 0)
        p = math.exp(pos_logit) / (math.exp(pos_logit) + 1)
        return (p * (math.log(p) - math.log(1 + 1e-8)) +
                (1 - p) * (math.log(1 - p) - math.log(1e-8)))

    expected = (row(2) + row(1)) / 2 + (row(3) + row(5)) / 2
    out = loss(img, txt, torch.tensor([0, 1]))
    assert out.item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('label_norm', ['l1', 'l2'])
def test_matches_loop_reference_with_repeated_pids(label_norm):
    torch.manual_seed(0)
    img, txt = torch.randn(6, 5), torch.randn(6, 5)
    pids = torch.tensor([0, 0, 1, 2, 2, 2])
    loss = MODELS.build(dict(type='CMPMLoss', label_norm=label_norm))
    expected = reference_cmpm(img, txt, pids.tolist(), label_norm)
    assert loss(img, txt, pids).item() == pytest.approx(expected, rel=1e-4)


def test_label_norms_differ_only_with_duplicates():
    torch.manual_seed(1)
    img, txt = torch.randn(4, 3), torch.randn(4, 3)
    l1 = MODELS.build(dict(type='CMPMLoss', label_norm='l1'))
    l2 = MODELS.build(dict(type='CMPMLoss', label_norm='l2'))
    unique = torch.arange(4)
    assert torch.allclose(l1(img, txt, unique), l2(img, txt, unique))
    dup = torch.tensor([0, 0, 1, 1])
    assert not torch.allclose(l1(img, txt, dup), l2(img, txt, dup))
    with pytest.raises(ValueError, match='label_norm'):
        MODELS.build(dict(type='CMPMLoss', label_norm='max'))


def test_image_norm_sharpens_and_gradients_flow():
    """Scaling the image features up sharpens p_i2t (no temperature):
    correctly aligned pairs then have a lower loss."""
    loss = MODELS.build(dict(type='CMPMLoss'))
    eye, pids = torch.eye(3), torch.arange(3)
    assert loss(10 * eye, 10 * eye, pids) < loss(eye, eye, pids)
    img = torch.randn(4, 3, requires_grad=True)
    txt = torch.randn(4, 3, requires_grad=True)
    out = loss(img, txt, torch.tensor([0, 1, 1, 2]))
    out.backward()
    assert img.grad.abs().sum() > 0 and txt.grad.abs().sum() > 0
