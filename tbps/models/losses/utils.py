"""Helpers shared by the alignment losses."""
import torch


def pid_targets(pids_a: torch.Tensor, pids_b: torch.Tensor) -> torch.Tensor:
    """Row-normalised identity-match matrix.

    q[i, j] = 1[pid_a_i == pid_b_j] / sum_j 1[pid_a_i == pid_b_j], shape
    [A, B]. Rows without any match are all zero.
    """
    match = (pids_a.view(-1, 1) == pids_b.view(1, -1)).float()
    return match / match.sum(dim=1, keepdim=True).clamp(min=1)


def diagonal_targets(local_size: int, global_size: int,
                     device=None) -> torch.Tensor:
    """One-hot targets [B, W*B] of this rank's rows within a gathered batch
    (rank r's sample i sits at column r*B + i)."""
    from mmengine.dist import get_rank
    offset = get_rank() * local_size if global_size != local_size else 0
    cols = torch.arange(local_size, device=device) + offset
    return torch.nn.functional.one_hot(cols, global_size).float()
