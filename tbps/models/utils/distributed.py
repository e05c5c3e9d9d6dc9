"""Collectives used by losses and queues, in one place."""
from typing import List

import torch
from mmengine import dist
from mmengine.dist import get_world_size, is_distributed


def _sizes(x: torch.Tensor) -> List[int]:
    """Every rank's ``x.shape[0]``."""
    size = torch.tensor([x.shape[0]], device=x.device)
    return [int(s) for s in dist.all_gather(size)]


def _pad(x: torch.Tensor, rows: int) -> torch.Tensor:
    if x.shape[0] == rows:
        return x.contiguous()
    pad = x.new_zeros((rows - x.shape[0], ) + tuple(x.shape[1:]))
    return torch.cat([x, pad]).contiguous()


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` [B_r, ...] from every rank r along dim 0 ->
    [sum_r B_r, ...] in rank order.

    Gradients flow back to each rank's own slice (and, through the
    autograd-aware collective, to the slices of other ranks), so a loss over
    the gathered batch trains every rank's encoders. Identity when not
    distributed. Ranks may hold different numbers of rows (e.g. LAIP's
    phrase rows, only captions with a phrase): they are padded to the
    largest for the collective and trimmed after.
    """
    if not is_distributed() or get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather
    sizes = _sizes(x)
    parts = all_gather(_pad(x, max(sizes)))
    return torch.cat([p[:n] for p, n in zip(parts, sizes)], dim=0)


@torch.no_grad()
def all_gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Like :func:`all_gather_with_grad` without gradient (queue updates,
    identity targets): mmengine's ``all_gather``, concatenated."""
    if not is_distributed() or get_world_size() == 1:
        return x
    sizes = _sizes(x)
    parts = dist.all_gather(_pad(x, max(sizes)))
    return torch.cat([p[:n] for p, n in zip(parts, sizes)], dim=0)
