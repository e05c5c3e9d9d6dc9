"""Transforms. mmcv's image transforms are registered here too so configs
with ``default_scope='tbps'`` can name them without a scope prefix; other
mmpretrain augmentations are available as ``mmpretrain.<Name>``."""
from mmcv.transforms import (CenterCrop, LoadImageFromFile, Normalize,
                             RandomFlip, RandomGrayscale, RandomResize, Resize)

from tbps.registry import TRANSFORMS
from .eda import EDACaption
from .formatting import PackTBPSInputs

for _t in (CenterCrop, LoadImageFromFile, Normalize, RandomFlip,
           RandomGrayscale, RandomResize, Resize):
    TRANSFORMS.register_module(module=_t)

__all__ = ['EDACaption', 'PackTBPSInputs', 'CenterCrop', 'LoadImageFromFile',
           'Normalize', 'RandomFlip', 'RandomGrayscale', 'RandomResize',
           'Resize']
