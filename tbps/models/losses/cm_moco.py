"""Cross-modal momentum contrast (CM-MoCo, TextReID): each modality's
queries against the other modality's momentum keys and queue."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from tbps.registry import MODELS
from tbps.models.utils import all_gather_no_grad
from .utils import enqueue_fifo


@MODELS.register_module()
class CrossModalMoCoLoss(nn.Module):
    """L = CE([v . t'_+, v . Q_t] / tau, 0) + CE([t . v'_+, t . Q_v] / tau, 0)

    v, t [B, D]: unit-norm online image / caption features; v', t': the
    momentum encoders' (keys), t'_+ / v'_+ the key of the same pair;
    Q_t, Q_v: queues of past keys ([D, K] buffers, identities in
    ``pid_queue``). Queue entries whose identity occurs anywhere in the
    batch are removed from every row's negatives (TextReID), so negatives
    are other people only; the other keys of the batch are not negatives
    (as TextReID). With ``queue_size=0`` the negatives are the batch's keys
    (gathered over ranks) of other identities: the in-batch ablation.

    The queues are written by :meth:`enqueue` after the loss, with every
    rank's keys; K must be a multiple of the global batch (checked on the
    first write).

    Args:
        embed_dim (int): D.
        queue_size (int): K (2048 in TextReID); 0 for in-batch negatives.
        temperature (float): tau (0.07, fixed).
    """

    def __init__(self, embed_dim: int, queue_size: int = 2048,
                 temperature: float = 0.07):
        super().__init__()
        self.queue_size = queue_size
        self.temperature = temperature
        if queue_size:
            self.register_buffer('image_queue', F.normalize(
                torch.randn(embed_dim, queue_size), dim=0))
            self.register_buffer('text_queue', F.normalize(
                torch.randn(embed_dim, queue_size), dim=0))
            # -1 marks slots never written: a random negative of no one.
            self.register_buffer('pid_queue', torch.full(
                (queue_size, ), -1, dtype=torch.long))
            self.register_buffer('queue_ptr', torch.zeros(1,
                                                          dtype=torch.long))

    def _negatives(self, image_keys, text_keys, pids):
        """(image negatives [D, N], text negatives [D, N], pids [N])."""
        if self.queue_size:
            # copies: enqueue() overwrites the queues before backward
            return (self.image_queue.clone(), self.text_queue.clone(),
                    self.pid_queue.clone())
        return (all_gather_no_grad(image_keys).t(),
                all_gather_no_grad(text_keys).t(), all_gather_no_grad(pids))

    def forward(self, image_feat, text_feat, image_key, text_key,
                pids) -> torch.Tensor:
        """image_feat, text_feat: online [B, D]; image_key, text_key:
        momentum [B, D]; all unit norm. pids [B]. Returns the loss."""
        neg_images, neg_texts, neg_pids = self._negatives(image_key,
                                                          text_key, pids)
        if self.queue_size:
            # a queue column is dropped when its identity is anywhere in
            # the batch: one mask [1, N] for every row
            drop = (neg_pids.view(-1, 1) == pids.view(1, -1)).any(
                dim=1).view(1, -1)
        else:
            # in-batch keys: row i drops the keys of its own identity
            # (its positive included) [B, N]
            drop = pids.view(-1, 1) == neg_pids.view(1, -1)
        loss = 0
        for query, key, negatives in ((image_feat, text_key, neg_texts),
                                      (text_feat, image_key, neg_images)):
            positive = (query * key).sum(dim=1, keepdim=True)
            negative = (query @ negatives.to(query.dtype)).masked_fill(
                drop, float('-inf'))
            logits = torch.cat([positive, negative], dim=1) / self.temperature
            target = torch.zeros(query.shape[0], dtype=torch.long,
                                 device=query.device)
            loss = loss + F.cross_entropy(logits.float(), target)
        return loss

    @torch.no_grad()
    def enqueue(self, image_key, text_key, pids) -> None:
        """Write every rank's keys into the queues (FIFO)."""
        if self.queue_size:
            enqueue_fifo((self.image_queue, self.text_queue),
                         (image_key, text_key), self.pid_queue, pids,
                         self.queue_ptr, 'model.moco.queue_size')
