"""Helpers shared by the alignment losses."""
from typing import Sequence

import torch
import torch.nn.functional as F

from tbps.models.utils import all_gather_no_grad

TARGET_NORMS = ('l1', 'l2')


def pid_targets(pids_a: torch.Tensor, pids_b: torch.Tensor,
                norm: str = 'l1') -> torch.Tensor:
    """Row-normalised identity-match matrix.

    q[i, j] = 1[pid_a_i == pid_b_j] / n_i, shape [A, B], with
    n_i = sum_j 1[pid_a_i == pid_b_j] for ``norm='l1'`` (each row a
    distribution) or its square root for ``norm='l2'`` (unit rows, as
    IRRA's ``compute_cmpm``). Rows without any match are all zero.
    """
    if norm not in TARGET_NORMS:
        raise ValueError(f'norm must be one of {TARGET_NORMS}, got '
                         f'{norm!r}.')
    match = (pids_a.view(-1, 1) == pids_b.view(1, -1)).float()
    count = match.sum(dim=1, keepdim=True)
    if norm == 'l2':
        count = count.sqrt()
    return match / count.clamp(min=1)


def kl_to_targets(logits: torch.Tensor, targets: torch.Tensor,
                  eps: float) -> torch.Tensor:
    """mean_i KL(p_i || q_i) = mean_i sum_j p_ij (log p_ij - log(q_ij + eps))

    with p = softmax(logits) over each row; logits and targets [A, B].
    """
    log_p = F.log_softmax(logits, dim=1)
    kl = log_p.exp() * (log_p - torch.log(targets + eps))
    return kl.sum(dim=1).mean()


def diagonal_targets(local_size: int, global_size: int,
                     device=None) -> torch.Tensor:
    """One-hot targets [B, W*B] of this rank's rows within a gathered batch
    (rank r's sample i sits at column r*B + i)."""
    from mmengine.dist import get_rank
    offset = get_rank() * local_size if global_size != local_size else 0
    cols = torch.arange(local_size, device=device) + offset
    return torch.nn.functional.one_hot(cols, global_size).float()


@torch.no_grad()
def enqueue_fifo(queues: Sequence[torch.Tensor], keys: Sequence[torch.Tensor],
                 pid_queue: torch.Tensor, pids: torch.Tensor,
                 queue_ptr: torch.Tensor, config_key: str) -> None:
    """Write every rank's keys into feature queues, first in first out.

    Args:
        queues: [D, K] buffers; keys: this rank's [B, D] features for each.
        pid_queue: [K] identities (-1: never written); pids: [B].
        queue_ptr: [1] next slot.
        config_key (str): The config key of K, named in the error raised
            when K is not a multiple of the global batch (checked on the
            first write; later writes wrap around the end, so a short last
            batch of an epoch is queued too).
    """
    gathered = [all_gather_no_grad(k) for k in keys]
    pids = all_gather_no_grad(pids)
    batch, size = pids.shape[0], pid_queue.shape[0]
    ptr = int(queue_ptr)
    first = ptr == 0 and bool((pid_queue == -1).all())
    if batch > size or (first and size % batch):
        raise ValueError(
            f'queue_size {size} must be divisible by the global batch size '
            f'{batch} (per-GPU batch x GPUs); change {config_key} or the '
            'batch size.')
    slots = (ptr + torch.arange(batch, device=pids.device)) % size
    for queue, feats in zip(queues, gathered):
        queue[:, slots] = feats.t()
    pid_queue[slots] = pids
    queue_ptr[0] = (ptr + batch) % size
