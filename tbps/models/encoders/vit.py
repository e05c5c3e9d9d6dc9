"""Vision Transformer image encoder (mmpretrain backbone)."""
from typing import Tuple, Union

import torch
from mmengine.model import BaseModule

from tbps.registry import MODELS


@MODELS.register_module()
class ViTImageEncoder(BaseModule):
    """mmpretrain ``VisionTransformer`` returning all tokens.

    Pedestrian crops are tall (384x128 in the literature, a 24x8 patch grid
    at patch 16); checkpoints trained on square grids are resized
    bilinearly/bicubically on load by mmpretrain's position-embedding hook.

    Args:
        arch (str | dict): mmpretrain ViT arch ('b', 's', ... or a dict with
            embed_dims, num_layers, num_heads, feedforward_channels).
        img_size (tuple): Input (H, W).
        patch_size (int): Patch size.
        **kwargs: Further ``VisionTransformer`` arguments (drop_path_rate,
            pre_norm, norm_cfg, init_cfg, ...).

    Forward: images [B, 3, H, W] -> ``(global [B, C], tokens [B, 1+N, C])``
    with the [CLS] token first.
    """

    def __init__(self, arch: Union[str, dict] = 'b',
                 img_size: Tuple[int, int] = (384, 128), patch_size: int = 16,
                 init_cfg=None, **kwargs):
        super().__init__(init_cfg=init_cfg)
        from mmpretrain.models.backbones import VisionTransformer
        self.backbone = VisionTransformer(
            arch=arch, img_size=tuple(img_size), patch_size=patch_size,
            out_type='raw', with_cls_token=True, **kwargs)
        self.embed_dim = self.backbone.embed_dims
        self.patch_grid = tuple(self.backbone.patch_resolution)

    def forward(self, images: torch.Tensor):
        tokens = self.backbone(images)[-1]
        return tokens[:, 0], tokens
