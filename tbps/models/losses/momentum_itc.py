"""ALBEF's image-text contrastive loss with momentum encoders, feature
queues and momentum distillation."""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from tbps.registry import MODELS
from .utils import enqueue_fifo, pid_targets


@MODELS.register_module()
class MomentumITCLoss(nn.Module):
    """Image-text contrastive loss against momentum features and queues.

    With online features v, t [B, D] and momentum features v', t' joined
    with the queues (Q past momentum features) into V' = [v'; queue_v],
    T' = [t'; queue_t] ([B+Q, D], unit norm):

        p_i2t = softmax(v T'^T / tau),  p_t2i = softmax(t V'^T / tau)
        y     = alpha * softmax(v' T'^T / tau) + (1 - alpha) * q
        L     = 1/2 [ CE(p_i2t, y_i2t) + CE(p_t2i, y_t2i) ]

    where q marks same-pid entries (row-normalised). The queues are buffers
    of this module, filled by :meth:`enqueue` with the gathered momentum
    features of all ranks; the queue size must be a multiple of the global
    batch size.

    Args:
        embed_dim (int): Feature size D.
        queue_size (int): Q (65536 in ALBEF).
        temperature (float): Initial learnable tau (0.07).
        alpha (float): Distillation weight (0.4).
    """

    def __init__(self, embed_dim: int, queue_size: int = 65536,
                 temperature: float = 0.07, alpha: float = 0.4,
                 min_temperature: float = 0.001):
        super().__init__()
        self.queue_size = queue_size
        self.alpha = alpha
        self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature)))
        self.min_log_temperature = math.log(min_temperature)
        self.register_buffer('image_queue', F.normalize(
            torch.randn(embed_dim, queue_size), dim=0))
        self.register_buffer('text_queue', F.normalize(
            torch.randn(embed_dim, queue_size), dim=0))
        # -1 marks slots not yet filled: never a positive.
        self.register_buffer('pid_queue',
                             torch.full((queue_size, ), -1, dtype=torch.long))
        self.register_buffer('queue_ptr', torch.zeros(1, dtype=torch.long))

    @property
    def temperature(self) -> torch.Tensor:
        return self.log_temperature.clamp(min=self.min_log_temperature,
                                          max=0.0).exp()

    def forward(self, image_feat, text_feat, image_feat_m, text_feat_m,
                pids, alpha: Optional[float] = None) -> torch.Tensor:
        """All features [B, D] unit norm; pids [B]; ``alpha`` overrides
        the distillation weight (a warm-up). Returns the loss."""
        alpha = self.alpha if alpha is None else alpha
        tau = self.temperature
        all_images_m = torch.cat([image_feat_m, self.image_queue.t()])
        all_texts_m = torch.cat([text_feat_m, self.text_queue.t()])
        all_pids = torch.cat([pids, self.pid_queue])
        targets = pid_targets(pids, all_pids)
        with torch.no_grad():
            soft_i2t = (image_feat_m @ all_texts_m.t() / tau).softmax(dim=1)
            soft_t2i = (text_feat_m @ all_images_m.t() / tau).softmax(dim=1)
            y_i2t = alpha * soft_i2t + (1 - alpha) * targets
            y_t2i = alpha * soft_t2i + (1 - alpha) * targets
        logp_i2t = F.log_softmax(image_feat @ all_texts_m.t() / tau, dim=1)
        logp_t2i = F.log_softmax(text_feat @ all_images_m.t() / tau, dim=1)
        loss = -((y_i2t * logp_i2t).sum(1).mean() +
                 (y_t2i * logp_t2i).sum(1).mean()) / 2
        return loss

    @torch.no_grad()
    def enqueue(self, image_feat_m, text_feat_m, pids) -> None:
        """Write the momentum features of all ranks into the queues."""
        enqueue_fifo((self.image_queue, self.text_queue),
                     (image_feat_m, text_feat_m), self.pid_queue, pids,
                     self.queue_ptr, 'model.heads.itc.queue_size')
