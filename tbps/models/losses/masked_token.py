"""Cross-entropy over masked tokens (MLM, MPM, IRRA's IRR)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from tbps.registry import MODELS


@MODELS.register_module()
class MaskedTokenLoss(nn.Module):
    """L = -1/|M| sum_{j in M} log p(y_j | masked input), over the masked
    positions M (labels != -100)."""

    def __init__(self, ignore_index: int = -100):
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, labels: torch.Tensor):
        """logits [..., V], labels [...] -> scalar (0 if nothing masked)."""
        logits = logits.reshape(-1, logits.shape[-1])
        labels = labels.reshape(-1)
        if not (labels != self.ignore_index).any():
            return logits.sum() * 0.0
        return F.cross_entropy(
            logits.float(), labels, ignore_index=self.ignore_index)
