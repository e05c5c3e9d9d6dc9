"""Cross-Modal Projection Matching (CMPM) loss."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from tbps.registry import MODELS
from tbps.models.utils import all_gather_no_grad, all_gather_with_grad
from .utils import TARGET_NORMS as LABEL_NORMS
from .utils import kl_to_targets, pid_targets


@MODELS.register_module()
class CMPMLoss(nn.Module):
    """Cross-Modal Projection Matching (Zhang & Lu, ECCV 2018).

    The logit of a pair is the scalar projection of one feature onto the
    other's unit vector (the image feature is *not* normalised):

        p_i2t = softmax_j(v_i . t_j / |t_j|),  p_t2i = softmax_j(t_i . v_j / |v_j|)
        L     = mean_i KL(p_i2t_i || q_i) + mean_i KL(p_t2i_i || q_i)

    with KL(p || q) = sum_j p_j (log p_j - log(q_j + eps)) and q the
    identity-match matrix normalised per row. ``label_norm='l1'`` divides
    by the number of matches (a distribution, as in the CMPM paper);
    ``'l2'`` divides by its square root, as IRRA's ``compute_cmpm`` does
    (``labels / labels.norm(dim=1)``). There is no temperature: the feature
    norms set the sharpness. Features of all ranks are gathered, so each
    rank's rows are compared with the global batch.

    Args:
        eps (float): Added to q inside the log (1e-8).
        label_norm (str): ``'l1'`` (paper) or ``'l2'`` (IRRA's code).
    """

    def __init__(self, eps: float = 1e-8, label_norm: str = 'l1'):
        super().__init__()
        if label_norm not in LABEL_NORMS:
            raise ValueError(f'label_norm must be one of {LABEL_NORMS}, got '
                             f'{label_norm!r}.')
        self.eps = eps
        self.label_norm = label_norm

    def targets(self, pids: torch.Tensor,
                all_pids: torch.Tensor) -> torch.Tensor:
        """[B, W*B] identity matches, normalised per row (L1 or L2)."""
        return pid_targets(pids, all_pids, norm=self.label_norm)

    def forward(self, image_feats: torch.Tensor, text_feats: torch.Tensor,
                pids: torch.Tensor) -> torch.Tensor:
        """image_feats, text_feats: [B, D]; pids: [B] -> scalar."""
        image_feats, text_feats = image_feats.float(), text_feats.float()
        all_images = all_gather_with_grad(F.normalize(image_feats, dim=-1))
        all_texts = all_gather_with_grad(F.normalize(text_feats, dim=-1))
        targets = self.targets(pids, all_gather_no_grad(pids))
        loss_i2t = kl_to_targets(image_feats @ all_texts.t(), targets,
                                 self.eps)
        loss_t2i = kl_to_targets(text_feats @ all_images.t(), targets,
                                 self.eps)
        return loss_i2t + loss_t2i
