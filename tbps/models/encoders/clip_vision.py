"""CLIP vision transformer with OpenAI's parameter names."""
from typing import Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tbps.registry import MODELS
from tbps.models.utils.pos_embed import resize_square_pos_embed_on_load
from .clip_text import LayerNormFP32, Transformer


@MODELS.register_module()
class CLIPVisionEncoder(BaseModule):
    """OpenAI CLIP's ``VisionTransformer`` returning all tokens.

    Parameter names follow OpenAI's ``visual.*`` state dict without the
    ``visual.`` prefix and without ``proj``: ``conv1`` (patch embedding, no
    bias), ``class_embedding`` [C], ``positional_embedding`` [1+N, C],
    ``ln_pre``, ``transformer.resblocks.{i}.*``, ``ln_post``. OpenAI's
    ``visual.proj`` [C, D] (like ``text_projection`` for
    :class:`CLIPTextEncoder`) belongs to the retriever's projection neck: it
    is ``image_proj.proj.weight`` = ``proj.T`` (see
    :mod:`tbps.converters.clip`).

    Forward: images [B, 3, H, W] -> ``(global [B, C], tokens [B, 1+N, C])``:
    ``tokens`` = ln_post(all tokens) with [CLS] first and the N = gh * gw
    patches in row-major order, ``global`` = ``tokens[:, 0]``. This is what
    IRRA computes (its ``VisionTransformer`` applies ``ln_post`` and ``proj``
    to every token and takes token 0 as the image feature; its cross-modal
    IRR module attends to all projected tokens): here ``proj`` is applied
    by ``image_proj``, which maps ``[..., C]`` to ``[..., D]``.

    Position embeddings of a checkpoint with another (square) patch grid,
    e.g. OpenAI's 14x14 at 224x224, are resized bilinearly to this model's
    grid (24x8 at 384x128) when the state dict is loaded
    (:meth:`_load_from_state_dict`, so ``load_state_dict``, mmengine's
    ``load_checkpoint`` and a config's ``load_from`` all work); the [CLS]
    position is kept.

    Args:
        width (int): Token width C (768 for ViT-B).
        layers (int): Transformer blocks.
        heads (int): Attention heads (width / 64 in OpenAI's models).
        patch_size (int): Patch size (and stride) of ``conv1``.
        img_size (tuple): Input (H, W); the grid is (H // patch, W // patch).
        quick_gelu (bool): QuickGELU as OpenAI (True) or exact GELU.
    """

    def __init__(self, width: int = 768, layers: int = 12, heads: int = 12,
                 patch_size: int = 16,
                 img_size: Sequence[int] = (384, 128),
                 quick_gelu: bool = True, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(img_size, int):
            img_size = (img_size, img_size)
        self.img_size = tuple(int(s) for s in img_size)
        self.patch_size = patch_size
        self.patch_grid = (self.img_size[0] // patch_size,
                           self.img_size[1] // patch_size)
        if min(self.patch_grid) < 1:
            raise ValueError(f'img_size {self.img_size} is smaller than '
                             f'patch_size {patch_size}.')
        self.embed_dim = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=patch_size,
                               stride=patch_size, bias=False)
        num_patches = self.patch_grid[0] * self.patch_grid[1]
        self.class_embedding = nn.Parameter(torch.empty(width))
        self.positional_embedding = nn.Parameter(
            torch.empty(num_patches + 1, width))
        self.ln_pre = LayerNormFP32(width)
        self.transformer = Transformer(width, layers, heads, quick_gelu)
        self.ln_post = LayerNormFP32(width)
        self._init_parameters()

    def _init_parameters(self):
        # As OpenAI: width^-0.5 for the embeddings, PyTorch's defaults for
        # the blocks. On the synth config (from scratch) neither the text
        # transformer's depth-scaled block init nor std 0.02 embeddings did
        # better (validation R1 37.6 / 37.8 vs 38.1).
        width = self.embed_dim
        nn.init.normal_(self.class_embedding, std=width**-0.5)
        nn.init.normal_(self.positional_embedding, std=width**-0.5)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A non-square source grid cannot be inferred from its length: the
        # shape mismatch is then reported by the caller.
        resize_square_pos_embed_on_load(
            state_dict, prefix + 'positional_embedding',
            self.positional_embedding, self.patch_grid)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor,
                                                     torch.Tensor]:
        x = self.conv1(images.to(self.conv1.weight.dtype))  # [B, C, gh, gw]
        if tuple(x.shape[-2:]) != self.patch_grid:
            raise ValueError(
                f'Images of {tuple(images.shape[-2:])} give a '
                f'{tuple(x.shape[-2:])} patch grid; the model was built for '
                f'{self.img_size} ({self.patch_grid}).')
        x = x.flatten(2).transpose(1, 2)  # [B, N, C], row-major patches
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1)
        x = x + self.positional_embedding.to(x.dtype)
        x = self.transformer(self.ln_pre(x))
        x = self.ln_post(x)
        return x[:, 0], x
