"""Swin Transformer image encoder (mmpretrain backbone), APTM's at 384x128."""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from tbps.registry import MODELS


@MODELS.register_module()
class SwinImageEncoder(BaseModule):
    """mmpretrain ``SwinTransformer`` returning an average-pooled token and
    the last stage's patch tokens (APTM).

    At 384x128 with patch 4 the stages see 96x32, 48x16, 24x8 and 12x4
    tokens; APTM uses windows of 8 and, in the last stage, 4
    (``window_sizes=(8, 8, 8, 4)``), so the output is 1 + 48 tokens of
    width 1024 for Swin-B. Checkpoints trained with other windows (the
    ImageNet-22k 7x7 release) have their relative-position tables resized
    bicubically on load.

    Args:
        arch (str | dict): mmpretrain Swin arch ('base', 'tiny', ... or a
            dict with embed_dims, depths, num_heads).
        img_size (tuple): Input (H, W).
        window_sizes (Sequence[int]): Window per stage.
        drop_path_rate (float): Stochastic depth (0.1 in APTM).
        **kwargs: Further ``SwinTransformer`` arguments.

    Forward: images [B, 3, H, W] -> ``(global [B, C], tokens [B, 1+N, C])``
    with the average-pooled token first.
    """

    def __init__(self, arch: Union[str, dict] = 'base',
                 img_size: Tuple[int, int] = (384, 128),
                 window_sizes: Sequence[int] = (8, 8, 8, 4),
                 drop_path_rate: float = 0.1, init_cfg=None,
                 **kwargs):
        super().__init__(init_cfg=init_cfg)
        from mmpretrain.models.backbones import SwinTransformer
        stage_cfgs = [dict(window_size=int(w)) for w in window_sizes]
        num_stages = len(stage_cfgs)
        self.backbone = SwinTransformer(
            arch=arch, img_size=tuple(img_size), stage_cfgs=stage_cfgs,
            drop_path_rate=drop_path_rate, out_indices=(num_stages - 1, ),
            **kwargs)
        self.embed_dim = self.backbone.num_features[-1]
        # before mmpretrain's own table hook (its scipy interp2d is gone)
        self._register_load_state_dict_pre_hook(self._resize_tables)

    def _resize_tables(self, state_dict, prefix, *args) -> None:
        """Resize relative-position bias tables of another window size
        ([(2w-1)^2, heads]) bicubically to this model's windows; the index
        buffers are this model's."""
        own = self.state_dict()
        for key in list(state_dict):
            if not key.startswith(prefix):
                continue
            target = own.get(key[len(prefix):])
            value = state_dict[key]
            if target is None or target.shape == value.shape:
                continue
            if key.endswith('relative_position_index'):  # derived buffer
                state_dict[key] = target.clone()
                continue
            if not key.endswith('relative_position_bias_table'):
                continue
            src, dst = (round(math.sqrt(value.shape[0])),
                        round(math.sqrt(target.shape[0])))
            grid = value.t().reshape(1, -1, src, src).float()
            grid = F.interpolate(grid, size=(dst, dst), mode='bicubic',
                                 align_corners=False)
            state_dict[key] = grid.reshape(-1, dst * dst).t().to(
                value.dtype).contiguous()

    def forward(self, images: torch.Tensor):
        feature_map = self.backbone(images)[-1]          # [B, C, h, w]
        patches = feature_map.flatten(2).transpose(1, 2)  # [B, h*w, C]
        pooled = patches.mean(dim=1)
        return pooled, torch.cat([pooled[:, None], patches], dim=1)

    @property
    def window_sizes(self) -> Optional[list]:
        return [stage.blocks[0].attn.w_msa.window_size[0]
                for stage in self.backbone.stages]
