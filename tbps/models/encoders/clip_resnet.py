"""CLIP's ModifiedResNet (open_clip's implementation, OpenAI's parameter
names) for person images: last-stage stride and a non-square attention-pool
grid."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log
from open_clip.modified_resnet import ModifiedResNet

from tbps.registry import MODELS
from tbps.models.utils.pos_embed import resize_square_pos_embed_on_load


@MODELS.register_module()
class CLIPResNetEncoder(ModifiedResNet):
    """OpenAI CLIP's ``ModifiedResNet`` returning the attention-pooled
    feature and the last feature map.

    open_clip's module, whose parameter names are OpenAI's ``visual.*``
    without the prefix (``conv1``, ``layer1.0.conv1``, ...,
    ``attnpool.{positional_embedding,q_proj,k_proj,v_proj,c_proj}``), with
    two changes for 384x128 person crops (TextReID):

    * ``last_stride=1`` builds the last stage without its 2x down-sampling
      (the anti-aliasing average pools of its first block become
      identities), so the final map is H/16 x W/16 (24x8);
    * the attention pool's position embedding covers that grid: a
      checkpoint's square grid (7x7 at 224) is resized bilinearly when the
      state dict is loaded, the mean-token position kept.

    Forward: images [B, 3, H, W] -> ``(global [B, output_dim],
    tokens [B, gh * gw, 32 * width])``: the attention pool's output and the
    last stage's map, row-major.

    Args:
        layers (Sequence[int]): Bottlenecks per stage ((3, 4, 6, 3): RN50).
        output_dim (int): Attention-pool output width (1024 for RN50).
        heads (int): Attention-pool heads (32 for RN50).
        width (int): Stem width (64); the map has 32 * width channels.
        img_size (tuple): Input (H, W).
        last_stride (int): 1 (TextReID) or 2 (CLIP).
        clip_checkpoint (str, optional): An OpenAI-format CLIP file (the
            TorchScript release or a state dict), URL or zoo name (e.g.
            ``clip_rn50_openai``) whose ``visual.*`` weights are loaded by
            :meth:`init_weights`.
    """

    def __init__(self, layers: Sequence[int] = (3, 4, 6, 3),
                 output_dim: int = 1024, heads: int = 32, width: int = 64,
                 img_size: Sequence[int] = (384, 128), last_stride: int = 1,
                 clip_checkpoint: Optional[str] = None):
        if last_stride not in (1, 2):
            raise ValueError(f'last_stride must be 1 or 2, got {last_stride}')
        super().__init__(list(layers), output_dim, heads, image_size=224,
                         width=width)
        if last_stride == 1:
            first = self.layer4[0]
            first.avgpool = nn.Identity()
            if first.downsample is not None:
                first.downsample[0] = nn.Identity()  # the '-1' AvgPool2d
        self.img_size = tuple(int(s) for s in img_size)
        ratio = 16 if last_stride == 1 else 32
        self.grid = (self.img_size[0] // ratio, self.img_size[1] // ratio)
        if min(self.grid) < 1:
            raise ValueError(f'img_size {self.img_size} is too small for a '
                             f'stride-{ratio} ResNet.')
        self.embed_dim = output_dim
        pool = self.attnpool
        pool.positional_embedding = nn.Parameter(
            torch.randn(self.grid[0] * self.grid[1] + 1,
                        pool.k_proj.in_features) /
            pool.k_proj.in_features**0.5)
        self.clip_checkpoint = clip_checkpoint

    def init_weights(self):
        """Load ``visual.*`` of :attr:`clip_checkpoint`, if set."""
        if self.clip_checkpoint is None:
            return
        from tbps.models.utils.clip_weights import load_clip_state_dict
        state = load_clip_state_dict(self.clip_checkpoint)
        visual = {k[len('visual.'):]: v.float() for k, v in state.items()
                  if k.startswith('visual.')}
        if 'attnpool.positional_embedding' not in visual:
            raise ValueError(f'{self.clip_checkpoint} holds no ResNet CLIP '
                             'image encoder (visual.attnpool.*); use a '
                             'ResNet release such as clip_rn50_openai.')
        missing, unexpected = self.load_state_dict(visual, strict=False)
        if missing or unexpected:
            raise ValueError(
                f'{self.clip_checkpoint} does not fit this CLIPResNetEncoder '
                f'(layers, width, heads, output_dim): missing {missing[:5]}, '
                f'unexpected {unexpected[:5]}.')
        print_log(f'Loaded the CLIP ResNet image encoder from '
                  f'{self.clip_checkpoint}', logger='current')

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        resize_square_pos_embed_on_load(
            state_dict, prefix + 'attnpool.positional_embedding',
            self.attnpool.positional_embedding, self.grid)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, images: torch.Tensor) -> Tuple[torch.Tensor,
                                                     torch.Tensor]:
        x = self.stem(images.to(self.conv1.weight.dtype))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        if tuple(x.shape[-2:]) != self.grid:
            raise ValueError(
                f'Images of {tuple(images.shape[-2:])} give a '
                f'{tuple(x.shape[-2:])} feature map; the model was built for '
                f'{self.img_size} ({self.grid}).')
        return self.attnpool(x), x.flatten(2).transpose(1, 2)
