"""Convert IRRA's own checkpoints (anosorae/IRRA: its ``Checkpointer``
output for the ``IRRA`` model of ``model/build.py``) to tbps's
``DualEncoderRetriever`` with an ``IRRHead`` (``configs/irra/*``).

IRRA saves ``{'model': state_dict, 'optimizer', 'scheduler', ...}`` with
the weights in float16. Key mapping, IRRA -> tbps::

    base_model.*                  the OpenAI CLIP layout, converted by
                                  :func:`tbps.converters.clip.
                                  convert_clip_state_dict` (its position
                                  embedding is already at IRRA's 24x8 grid)
    classifier                    losses.id.classifier
    cross_attn, ln_pre_t, ln_pre_i,
    cross_modal_transformer,
    ln_post, mlm_head             irr.<same names>

Dropped: ``base_model.logit_scale`` (IRRA fixes the temperature by
argument; tbps's configs set it) and the optimizer/scheduler state.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch

from .clip import convert_clip_state_dict
from .utils import unwrap_checkpoint

#: IRRA modules that tbps's IRRHead holds under the same names.
IRR_MODULES = ('cross_attn.', 'ln_pre_t.', 'ln_pre_i.',
               'cross_modal_transformer.', 'ln_post.', 'mlm_head.')


def is_irra_state_dict(state_dict: Dict[str, torch.Tensor]) -> bool:
    return any(k.startswith('base_model.visual.') for k in state_dict)


def convert_irra_state_dict(checkpoint, img_size: Optional[Sequence[int]]
                            = (384, 128),
                            dtype: Optional[torch.dtype] = torch.float32
                            ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """``(state_dict, report)`` in tbps keys from an IRRA checkpoint (or
    its bare state dict). Floating tensors are cast to ``dtype``."""
    state_dict = unwrap_checkpoint(checkpoint, keys=('model', 'state_dict'))
    if not is_irra_state_dict(state_dict):
        raise ValueError('Not an IRRA checkpoint: no base_model.visual.* '
                         'keys.')
    clip = {k[len('base_model.'):]: v for k, v in state_dict.items()
            if k.startswith('base_model.')}
    new, clip_report = convert_clip_state_dict(clip, img_size=img_size,
                                               dtype=dtype)
    new = OrderedDict(new)
    unmapped = ['base_model.' + k for k in clip_report['unmapped']]
    for key, value in state_dict.items():
        if key.startswith('base_model.'):
            continue
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        if key.startswith('classifier.'):
            new['losses.id.' + key] = value
        elif key.startswith(IRR_MODULES):
            new['irr.' + key] = value
        else:
            unmapped.append(key)
    report = OrderedDict(
        num_source_keys=len(state_dict), num_converted=len(new),
        clip=clip_report,
        irr=any(k.startswith('irr.') for k in new),
        id_classes=(int(state_dict['classifier.weight'].shape[0])
                    if 'classifier.weight' in state_dict else None),
        dropped=OrderedDict(
            (reason, ['base_model.' + k for k in keys])
            for reason, keys in clip_report['dropped'].items()),
        unmapped=unmapped)
    return new, report
