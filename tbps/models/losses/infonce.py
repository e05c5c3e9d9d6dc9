"""Symmetric image-text contrastive loss (CLIP / ALBEF ITC)."""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from tbps.registry import MODELS
from tbps.models.utils import all_gather_no_grad, all_gather_with_grad
from .utils import diagonal_targets, pid_targets


@MODELS.register_module()
class InfoNCELoss(nn.Module):
    """L = 1/2 [ CE(softmax(s(v, T)/tau), q_v) + CE(softmax(s(t, V)/tau), q_t) ]

    with cosine similarity s, targets q from identity equality (so captions
    of the same person in a batch are all positives; with unique pids this
    is CLIP's diagonal target) and temperature tau, learnable by default
    (stored as log(1/tau), clamped so 1/tau <= ``max_inv_temperature``).
    Features of all ranks are gathered, so negatives span the global batch.

    Args:
        temperature (float): Initial tau (0.07 in CLIP/ALBEF).
        learnable (bool): Learn tau; a fixed tau is not saved in or loaded
            from checkpoints (the config's value is used).
        use_pids (bool): Identity-aware targets; False gives the diagonal.
    """

    def __init__(self, temperature: float = 0.07, learnable: bool = True,
                 max_inv_temperature: float = 100.0, use_pids: bool = True):
        super().__init__()
        log_inv = torch.tensor(math.log(1.0 / temperature))
        if learnable:
            self.log_inv_temperature = nn.Parameter(log_inv)
        else:
            # a fixed tau is part of the config, not of the weights: a
            # checkpoint (e.g. a pre-training with a learned tau) loaded
            # into this loss must not replace it
            self.register_buffer('log_inv_temperature', log_inv,
                                 persistent=False)
        self.max_log = math.log(max_inv_temperature)
        self.use_pids = use_pids

    @property
    def inv_temperature(self) -> torch.Tensor:
        return self.log_inv_temperature.clamp(max=self.max_log).exp()

    @property
    def temperature(self) -> torch.Tensor:
        return 1.0 / self.inv_temperature

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor,
                pids: Optional[torch.Tensor] = None) -> torch.Tensor:
        """image_feats, text_feats: [B, D] (any norm); pids: [B]."""
        image_feats = F.normalize(image_feats, dim=-1)
        text_feats = F.normalize(text_feats, dim=-1)
        all_images = all_gather_with_grad(image_feats)
        all_texts = all_gather_with_grad(text_feats)
        scale = self.inv_temperature
        logits_i2t = scale * image_feats @ all_texts.t()
        logits_t2i = scale * text_feats @ all_images.t()
        if self.use_pids and pids is not None:
            targets = pid_targets(pids, all_gather_no_grad(pids))
        else:
            targets = diagonal_targets(image_feats.shape[0],
                                       all_images.shape[0],
                                       image_feats.device)
        loss_i2t = -(targets * F.log_softmax(logits_i2t, dim=1)).sum(1).mean()
        loss_t2i = -(targets * F.log_softmax(logits_t2i, dim=1)).sum(1).mean()
        return (loss_i2t + loss_t2i) / 2
