"""Convert official Swin Transformer checkpoints (microsoft/Swin-
Transformer, e.g. ``swin_base_patch4_window7_224_22k.pth``) to tbps's
:class:`~tbps.models.encoders.SwinImageEncoder` (mmpretrain layout).

Key mapping, official -> tbps (``P`` = ``prefix``, default
``image_encoder.backbone.``)::

    patch_embed.proj                    P patch_embed.projection
    patch_embed.norm                    P patch_embed.norm
    layers.i.blocks.j.norm1 / norm2     P stages.i.blocks.j.norm1 / norm2
    layers.i.blocks.j.attn.qkv / proj   P stages.i.blocks.j.attn.w_msa.qkv
                                          / proj
    ...attn.relative_position_bias_table  ...attn.w_msa.relative_position_
                                          bias_table (resized on load)
    layers.i.blocks.j.mlp.fc1 / fc2     P stages.i.blocks.j.ffn.layers.0.0
                                          / ffn.layers.1
    layers.i.downsample.reduction/norm  P stages.i.downsample.* (channels
                                          reordered, see below)
    norm                                P norm3 (the last stage's norm)

Patch merging concatenates the 2x2 neighbours in the order (0,0), (1,0),
(0,1), (1,1) (row, column) for all channels; mmpretrain's ``nn.Unfold``
lists, per channel, the positions (0,0), (0,1), (1,0), (1,1). The
reduction weight's input columns and the norm are permuted accordingly.
Dropped: ``relative_position_index`` and ``attn_mask`` buffers (rebuilt)
and the classifier ``head``.
"""
import re
from collections import OrderedDict
from typing import Dict, Tuple

import torch

from .utils import unwrap_checkpoint

_BLOCK = [('attn.qkv.', 'attn.w_msa.qkv.'), ('attn.proj.', 'attn.w_msa.proj.'),
          ('attn.relative_position_bias_table',
           'attn.w_msa.relative_position_bias_table'),
          ('mlp.fc1.', 'ffn.layers.0.0.'), ('mlp.fc2.', 'ffn.layers.1.'),
          ('norm1.', 'norm1.'), ('norm2.', 'norm2.')]
# official position p (row, col) -> its index in mmpretrain's unfold order
_UNFOLD_OF_OFFICIAL = (0, 2, 1, 3)


def merge_order(tensor: torch.Tensor) -> torch.Tensor:
    """Reorder the last dimension (4C, the merged 2x2 neighbours) from the
    official [position, channel] layout to nn.Unfold's [channel,
    position]."""
    *lead, four_c = tensor.shape
    c = four_c // 4
    by_pos = tensor.reshape(*lead, 4, c)
    unfold = torch.empty_like(by_pos)
    for official, k in enumerate(_UNFOLD_OF_OFFICIAL):
        unfold[..., k, :] = by_pos[..., official, :]
    return unfold.transpose(-1, -2).reshape(*lead, four_c).contiguous()


def convert_swin_state_dict(checkpoint, prefix: str = 'image_encoder.'
                            'backbone.', num_stages: int = 4
                            ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """``(state_dict, report)``: official Swin keys -> tbps keys."""
    state_dict = unwrap_checkpoint(checkpoint, keys=('model', 'state_dict'))
    if 'patch_embed.proj.weight' not in state_dict or not any(
            k.startswith('layers.0.blocks.') for k in state_dict):
        raise ValueError('Not an official Swin Transformer checkpoint '
                         '(patch_embed.proj / layers.*.blocks.* keys).')
    new, dropped, unmapped = OrderedDict(), [], []
    for key, value in state_dict.items():
        if key.endswith(('relative_position_index', 'attn_mask')) or \
                key.startswith('head.'):
            dropped.append(key)
            continue
        dst = None
        if key.startswith('patch_embed.proj.'):
            dst = 'patch_embed.projection.' + key[len('patch_embed.proj.'):]
        elif key.startswith('patch_embed.norm.'):
            dst = key
        elif key.startswith('norm.'):
            dst = f'norm{num_stages - 1}.' + key[len('norm.'):]
        else:
            m = re.match(r'^layers\.(\d+)\.blocks\.(\d+)\.(.*)$', key)
            d = re.match(r'^layers\.(\d+)\.downsample\.(.*)$', key)
            if m:
                for src, tgt in _BLOCK:
                    if m.group(3).startswith(src):
                        dst = (f'stages.{m.group(1)}.blocks.{m.group(2)}.'
                               + tgt + m.group(3)[len(src):])
                        break
            elif d:
                dst = f'stages.{d.group(1)}.downsample.{d.group(2)}'
                value = merge_order(value)
        if dst is None:
            unmapped.append(key)
            continue
        new[prefix + dst] = value
    report = OrderedDict(num_source_keys=len(state_dict),
                         num_converted=len(new), dropped=dropped,
                         unmapped=unmapped)
    return new, report
