"""LAIP's fusion triplet loss on image-text matching scores."""
import torch
import torch.nn as nn

from tbps.registry import MODELS


@MODELS.register_module()
class FusionTripletLoss(nn.Module):
    """L = mean( [m - s(I, T) + s(I, T')]_+ + [m - s(I, T) + s(I', T)]_+ )

    with s the matching probability of the fusion encoder's ITM head for a
    positive pair (I, T), a hard negative caption T' and a hard negative
    image I' (LAIP, margin m = 0.6).
    """

    def __init__(self, margin: float = 0.6):
        super().__init__()
        self.margin = margin

    def forward(self, pos_scores: torch.Tensor, neg_text_scores: torch.Tensor,
                neg_image_scores: torch.Tensor) -> torch.Tensor:
        """Scores [B] each (matched rows); returns a scalar."""
        loss = ((self.margin - pos_scores + neg_text_scores).clamp(min=0) +
                (self.margin - pos_scores + neg_image_scores).clamp(min=0))
        return loss.mean()
