"""Collectives used by losses and queues, in one place."""
import torch
from mmengine import dist
from mmengine.dist import get_world_size, is_distributed


def all_gather_with_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` [B, ...] from every rank along dim 0 -> [W*B, ...].

    Gradients flow back to each rank's own slice (and, through the
    autograd-aware collective, to the slices of other ranks), so a loss over
    the gathered batch trains every rank's encoders. Identity when not
    distributed. Every rank must pass the same shape.
    """
    if not is_distributed() or get_world_size() == 1:
        return x
    from torch.distributed.nn.functional import all_gather
    return torch.cat(all_gather(x.contiguous()), dim=0)


@torch.no_grad()
def all_gather_no_grad(x: torch.Tensor) -> torch.Tensor:
    """Like :func:`all_gather_with_grad` without gradient (queue updates,
    identity targets): mmengine's ``all_gather``, concatenated."""
    return torch.cat(dist.all_gather(x.contiguous()), dim=0)
