"""IRRA's Similarity Distribution Matching (SDM) loss."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from tbps.registry import MODELS
from tbps.models.utils import all_gather_no_grad, all_gather_with_grad
from .utils import kl_to_targets, pid_targets


@MODELS.register_module()
class SDMLoss(nn.Module):
    """Similarity Distribution Matching (IRRA, Jiang & Ye, CVPR 2023).

    With cosine similarities s, a fixed temperature tau and the label
    distribution q (q_ij = 1[pid_i == pid_j] / #{k: pid_k == pid_i}):

        p_i2t = softmax(s(v_i, T) / tau),  p_t2i = softmax(s(t_i, V) / tau)
        L     = mean_i KL(p_i2t_i || q_i) + mean_i KL(p_t2i_i || q_i)

    where KL(p || q) = sum_j p_j (log p_j - log(q_j + eps)). Unlike
    cross-entropy against q, the KL is taken from the predicted
    distribution, so probability mass on other identities is penalised by
    log(1 / eps) and the loss is zero when p equals q.

    The temperature is fixed (IRRA: ``logit_scale = 1 / 0.02``, not
    learned). Features of all ranks are gathered, so each rank's rows are
    compared with the global batch; identical to IRRA on one GPU.

    Args:
        temperature (float): tau (0.02 in IRRA).
        eps (float): Added to q inside the log (1e-8).
    """

    def __init__(self, temperature: float = 0.02, eps: float = 1e-8):
        super().__init__()
        if temperature <= 0:
            raise ValueError(f'temperature must be > 0, got {temperature}.')
        self.temperature = temperature
        self.eps = eps

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor,
                pids: torch.Tensor) -> torch.Tensor:
        """image_feats, text_feats: [B, D] (any norm); pids: [B] -> scalar."""
        image_feats = F.normalize(image_feats.float(), dim=-1)
        text_feats = F.normalize(text_feats.float(), dim=-1)
        all_images = all_gather_with_grad(image_feats)
        all_texts = all_gather_with_grad(text_feats)
        targets = pid_targets(pids, all_gather_no_grad(pids))
        scale = 1.0 / self.temperature
        loss_i2t = kl_to_targets(scale * image_feats @ all_texts.t(),
                                 targets, self.eps)
        loss_t2i = kl_to_targets(scale * text_feats @ all_images.t(),
                                 targets, self.eps)
        return loss_i2t + loss_t2i
