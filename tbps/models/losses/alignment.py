"""TextReID's global alignment loss: soft-margin bounds on the cosine
similarity of matching and non-matching image-text pairs."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from tbps.registry import MODELS


@MODELS.register_module()
class AlignmentLoss(nn.Module):
    """L = 2/B [ sum_{pos} log(1 + exp(-s_p (S_ij - alpha)))
                 + sum_{neg} log(1 + exp(s_n (S_ij - beta))) ]

    over the [B, B] cosine matrix S of images (rows) and captions
    (columns); a pair is positive when the two pids are equal (the
    diagonal included). Positive similarities are pushed above ``alpha``,
    negative ones below ``beta`` (Han et al., "Text-based person search
    with limited data", 2021; the loss of their code, with its 2/B
    normalisation).

    Args:
        alpha (float): Positive margin (0.6).
        beta (float): Negative margin (0.4).
        scale_pos (float): s_p (10).
        scale_neg (float): s_n (40).
    """

    def __init__(self, alpha: float = 0.6, beta: float = 0.4,
                 scale_pos: float = 10.0, scale_neg: float = 40.0):
        super().__init__()
        self.alpha, self.beta = alpha, beta
        self.scale_pos, self.scale_neg = scale_pos, scale_neg

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor,
                pids: torch.Tensor) -> torch.Tensor:
        """image_feats, text_feats: [B, D] (any norm); pids [B] -> scalar."""
        sim = F.normalize(image_feats.float(), dim=1) @ \
            F.normalize(text_feats.float(), dim=1).t()
        positive = pids.view(-1, 1) == pids.view(1, -1)
        loss_pos = F.softplus(-self.scale_pos * (sim - self.alpha))
        loss_neg = F.softplus(self.scale_neg * (sim - self.beta))
        loss = torch.where(positive, loss_pos, loss_neg).sum()
        return loss * 2.0 / sim.shape[0]
