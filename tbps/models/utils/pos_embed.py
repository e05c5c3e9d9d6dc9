"""Position-embedding resizing for ViT encoders at non-square inputs."""
import math
from typing import Optional, Sequence, Tuple

import torch
from mmpretrain.models.utils import resize_pos_embed


def square_grid(num_patches: int) -> Optional[Tuple[int, int]]:
    """``(g, g)`` if ``num_patches`` is a square ``g * g``, else None."""
    g = math.isqrt(num_patches)
    return (g, g) if g * g == num_patches and g > 0 else None


def resize_clip_pos_embed(pos: torch.Tensor, src_grid: Sequence[int],
                          dst_grid: Sequence[int], num_extra_tokens: int = 1,
                          mode: str = 'bilinear') -> torch.Tensor:
    """Resize a ViT position embedding to another patch grid: mmpretrain's
    ``resize_pos_embed`` for OpenAI's [L, C] layout as well, with a clear
    error when the grid does not fit.

    Args:
        pos (Tensor): [E + gh * gw, C] (OpenAI layout) or [1, E + gh*gw, C];
            the first E = ``num_extra_tokens`` rows ([CLS]) are kept, the
            rest is a row-major (gh, gw) grid.
        src_grid, dst_grid: (gh, gw) before and after.
        mode (str): ``F.interpolate`` mode (bilinear, ``align_corners=False``
            as IRRA; bicubic also possible).

    Returns:
        Tensor: [E + gh' * gw', C] (or with the leading 1), ``pos``'s dtype
        (interpolated in float32).
    """
    batched = pos.dim() == 3
    src_grid, dst_grid = tuple(src_grid), tuple(dst_grid)
    num_grid = pos.shape[-2] - num_extra_tokens
    if num_grid != src_grid[0] * src_grid[1]:
        raise ValueError(f'{num_grid} grid positions do not form a '
                         f'{src_grid[0]}x{src_grid[1]} grid.')
    out = resize_pos_embed(pos if batched else pos[None], src_grid, dst_grid,
                           mode=mode, num_extra_tokens=num_extra_tokens)
    return out if batched else out[0]


def resize_square_pos_embed_on_load(state_dict: dict, key: str,
                                    own: torch.Tensor,
                                    dst_grid: Sequence[int]) -> None:
    """In a state dict being loaded: resize ``state_dict[key]`` ([1 + g*g,
    C], a square grid after one extra token) to ``own``'s ``dst_grid``
    when the shapes differ (a checkpoint made at another input size). A
    non-square source is left for the loader to report."""
    from mmengine.logging import print_log
    pos = state_dict.get(key)
    if pos is None or pos.shape == own.shape or pos.dim() != 2 \
            or pos.shape[-1] != own.shape[-1]:
        return
    src_grid = square_grid(pos.shape[0] - 1)
    if src_grid is None:
        return
    state_dict[key] = resize_clip_pos_embed(pos, src_grid, dst_grid)
    print_log(f'Resized {key} from a {src_grid[0]}x{src_grid[1]} to a '
              f'{dst_grid[0]}x{dst_grid[1]} grid (bilinear).',
              logger='current')
