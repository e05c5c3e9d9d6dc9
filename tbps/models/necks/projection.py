"""Projection of encoder features into the joint embedding space."""
import torch
import torch.nn as nn

from tbps.registry import MODELS


@MODELS.register_module()
class LinearProjection(nn.Module):
    """y = x W (+ b): [..., in_dim] -> [..., out_dim].

    ``bias=False`` matches CLIP's ``visual.proj`` / ``text_projection``.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        self.proj = nn.Linear(in_dim, out_dim, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)
