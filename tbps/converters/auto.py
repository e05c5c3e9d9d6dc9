"""Recognise a checkpoint's format and convert foreign ones to tbps keys
(used by :func:`tbps.apis.init_model`)."""
from typing import Dict, Optional, Tuple

import torch

from .utils import unwrap_checkpoint

#: format -> the converter script that writes it once to disk.
CONVERTERS = dict(albef='tools/model_converters/albef2tbps.py',
                  openai_clip='tools/model_converters/clip2tbps.py',
                  irra='tools/model_converters/irra2tbps.py',
                  aptm='tools/model_converters/aptm2tbps.py')


def detect_format(state_dict: Dict[str, torch.Tensor]) -> str:
    """``'albef'``, ``'openai_clip'``, ``'irra'``, ``'aptm'`` or ``'tbps'``
    (anything else) from the keys of an unwrapped state dict."""
    keys = list(state_dict)

    def has(prefix):
        return any(k.startswith(prefix) for k in keys)

    if has('visual_encoder.') and has('text_encoder.'):
        return 'albef'
    if 'visual.conv1.weight' in state_dict and \
            'token_embedding.weight' in state_dict:
        return 'openai_clip'
    if has('base_model.visual.'):
        return 'irra'
    if has('vision_encoder.layers.') and has('text_encoder.'):
        return 'aptm'
    return 'tbps'


def to_tbps_state_dict(checkpoint, img_size=None
                       ) -> Tuple[Dict[str, torch.Tensor], str,
                                  Optional[dict]]:
    """``(state_dict, format, report)`` of a loaded checkpoint: tbps
    checkpoints unwrapped, ALBEF, OpenAI CLIP, IRRA and APTM ones converted
    (CLIP's position embedding resized to ``img_size``)."""
    state_dict = unwrap_checkpoint(checkpoint, keys=('state_dict', 'model'))
    fmt = detect_format(state_dict)
    if fmt == 'albef':
        from .albef import convert_albef_state_dict
        new, report = convert_albef_state_dict(state_dict)
        return new, fmt, report
    if fmt == 'openai_clip':
        from .clip import convert_clip_state_dict
        new, report = convert_clip_state_dict(state_dict, img_size=img_size)
        return new, fmt, report
    if fmt == 'irra':
        from .irra import convert_irra_state_dict
        new, report = convert_irra_state_dict(state_dict, img_size=img_size)
        return new, fmt, report
    if fmt == 'aptm':
        from .aptm import convert_aptm_state_dict
        new, report = convert_aptm_state_dict(state_dict)
        return new, fmt, report
    return state_dict, fmt, None
