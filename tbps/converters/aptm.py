"""Convert the APTM authors' checkpoints (Shuyu-XJTU/APTM: ``Retrieval.py``'s
``checkpoint_best.pth`` / ``checkpoint_<epoch>.pth``, the MALS pre-trained
``checkpoint_31.pth``) to tbps's :class:`~tbps.models.retrievers.
FusionRetriever` of ``configs/_base_/models/aptm_swin_b_bert.py``.

Usage (the command-line front end)::

    python tools/model_converters/aptm2tbps.py checkpoints/aptm_cuhk.pth \\
        checkpoints/aptm_cuhk_tbps.pth

APTM saves ``{'model': APTM_Retrieval.state_dict(), 'config': ...}``. Key
mapping, APTM -> tbps (``N`` = BERT's ``fusion_layer``, 6, found as the
first layer with cross-attention; ``[.bert]`` present when APTM trains with
MLM, as all its released configs do)::

    vision_encoder.*                    image_encoder.backbone.*, by
                                        :func:`tbps.converters.swin.
                                        convert_swin_state_dict`: APTM's
                                        Swin is Microsoft's without the
                                        classifier (patch_embed.proj ->
                                        patch_embed.projection, layers.i ->
                                        stages.i, attn.* -> attn.w_msa.*,
                                        mlp.fc1/fc2 -> ffn.layers.0.0/1,
                                        patch-merging channels reordered,
                                        norm -> norm3)
    text_encoder[.bert].embeddings      text_encoder.bert.embeddings
    text_encoder[.bert].encoder.layer.i text_encoder.bert.encoder.layer.i
                                            (i < N)
    text_encoder[.bert].encoder.layer.i fusion_encoder.layer.{i-N} (i >= N)
    text_encoder.cls.predictions        heads.mlm.predictor (BERT LM head)
    vision_proj / text_proj             image_proj.proj / text_proj.proj
    itm_head.{0,1,3}                    heads.itm.fc.{0,1,3} (Linear,
                                            LayerNorm, GELU, Linear)
    temp (tau)                          heads.itc.loss_module
                                            .log_inv_temperature = -log tau

Derived here: each ``relative_position_index`` (mmpretrain's own buffer
for the window of its table; APTM's buffers hold the same indices).
Dropped: ``attn_mask`` buffers of shifted blocks (mmpretrain builds the
mask in the forward pass) and ``embeddings.position_ids``.

Geometry: APTM's Swin uses one window (8) but, like Microsoft's, shrinks it
to a stage's map and stops shifting where the map is no larger than the
window. At 384x128 the stages see 96x32, 48x16, 24x8 and 12x4 tokens:
windows 8, 8, 8 (not shifted) and 4 (not shifted, 7x7 tables). tbps's
``window_sizes=(8, 8, 8, 4)`` with mmpretrain's no-shift rule for a map
equal to its window is the same network. APTM's output, the average of the
final-norm tokens followed by the tokens, is :class:`~tbps.models.encoders.
SwinImageEncoder`'s. APTM never clamps ``temp``; tbps's InfoNCELoss clamps
1/tau at ``max_inv_temperature`` (100), the report flags a larger one.
"""
import functools
import math
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from .albef import (HEAD_KEYS, _fusion_start, _map_bert, _text_prefix,
                    _tie_decoder_bias)
from .swin import convert_swin_state_dict
from .utils import format_key_report, unwrap_checkpoint

__all__ = ['convert_aptm_state_dict', 'is_aptm_state_dict', 'format_report']

VISION = 'vision_encoder.'
BACKBONE = 'image_encoder.backbone.'
#: InfoNCELoss's default ``max_inv_temperature``.
MAX_INV_TEMPERATURE = 100.0
_TOP = (('vision_proj.', 'image_proj.proj.'),
        ('text_proj.', 'text_proj.proj.'),
        ('itm_head.', HEAD_KEYS['itm'] + '.fc.'),
        ('text_encoder.cls.predictions.', HEAD_KEYS['mlm'] + '.predictor.'))


def is_aptm_state_dict(state_dict: Dict[str, torch.Tensor]) -> bool:
    """APTM's keys: its Swin under ``vision_encoder.layers.*`` and a BERT
    under ``text_encoder.*``."""
    return (any(k.startswith(VISION + 'layers.') for k in state_dict) and
            any(k.startswith('text_encoder.') for k in state_dict))


def _window_of(table: torch.Tensor) -> int:
    """w of a relative-position bias table of shape [(2w - 1)^2, heads]."""
    return (round(math.sqrt(table.shape[0])) + 1) // 2


@functools.lru_cache()
def _window_index(window: int) -> torch.Tensor:
    """mmpretrain's ``relative_position_index`` of a w x w window."""
    from mmpretrain.models.utils.attention import WindowMSA
    return WindowMSA(1, (window, window), 1).relative_position_index


def _convert_swin(state_dict) -> Tuple[Dict[str, torch.Tensor], dict]:
    """APTM's ``vision_encoder.*`` -> ``image_encoder.backbone.*`` plus the
    index buffers; the report's keys carry the ``vision_encoder.`` prefix."""
    swin = OrderedDict((k[len(VISION):], v) for k, v in state_dict.items()
                       if k.startswith(VISION))
    stages = {int(m.group(1)) for k in swin
              for m in [re.match(r'^layers\.(\d+)\.', k)] if m}
    new, report = convert_swin_state_dict(swin, prefix=BACKBONE,
                                          num_stages=max(stages) + 1)
    windows, derived = {}, []
    for key in list(new):
        if key.endswith('.relative_position_bias_table'):
            index_key = key.replace('relative_position_bias_table',
                                    'relative_position_index')
            window = _window_of(new[key])
            new[index_key] = _window_index(window).clone()
            derived.append(index_key)
            stage = int(re.match(r'.*stages\.(\d+)\.', key).group(1))
            windows[stage] = window
    depths = [len({m.group(1) for k in swin for m in [re.match(
        rf'^layers\.{i}\.blocks\.(\d+)\.', k)] if m})
        for i in range(len(stages))]
    return new, dict(
        depths=depths, windows=[windows.get(i) for i in range(len(stages))],
        width=int(swin['norm.weight'].shape[0]) if 'norm.weight' in swin
        else None,
        derived=derived,
        dropped=[VISION + k for k in report['dropped']],
        unmapped=[VISION + k for k in report['unmapped']])


def convert_aptm_state_dict(checkpoint) -> Tuple[Dict[str, torch.Tensor],
                                                 dict]:
    """Convert an APTM checkpoint (``{'model': ...}`` or its bare state
    dict) to tbps ``FusionRetriever`` keys.

    Returns:
        tuple: ``(state_dict, report)``; ``report`` holds ``layout``,
        counts, ``swin_depths``/``windows``, ``text_layers``/
        ``fusion_layers``, ``temperature``, ``clamped`` (1/tau above
        InfoNCELoss's default cap), ``derived`` (keys made here),
        ``dropped`` (reason -> keys) and ``unmapped``.
    """
    state_dict = unwrap_checkpoint(checkpoint, keys=('model', 'state_dict'))
    if not is_aptm_state_dict(state_dict):
        raise ValueError('Not an APTM retrieval checkpoint: expected '
                         'vision_encoder.layers.* and text_encoder.* keys.')
    text_src = _text_prefix(state_dict, 'text_encoder')
    if text_src is None:
        raise ValueError('No BERT embeddings / layers under text_encoder.; '
                         'is this an image-classifier-only APTM model?')
    fusion_start, num_text = _fusion_start(state_dict, text_src)
    new, swin = _convert_swin(state_dict)
    dropped: Dict[str, list] = OrderedDict()
    if swin['dropped']:
        dropped['Swin attn_mask / relative_position_index buffers (tbps '
                'builds its own)'] = swin['dropped']
    unmapped = list(swin['unmapped'])
    temperature = None
    for key, value in state_dict.items():
        if key.startswith(VISION):
            continue
        dst = None
        if key == 'temp':
            temperature = float(value.reshape(()))
            if not temperature > 0:
                raise ValueError(f'APTM temp must be positive, got '
                                 f'{temperature}.')
            dst = HEAD_KEYS['itc'] + '.loss_module.log_inv_temperature'
            value = torch.tensor(-math.log(temperature), dtype=torch.float32)
        elif key.endswith('embeddings.position_ids'):
            dropped.setdefault('position_ids buffer (not persistent in '
                               'transformers)', []).append(key)
            continue
        elif key.startswith(text_src):
            dst = _map_bert(key[len(text_src):], fusion_start,
                            'text_encoder.bert.', 'fusion_encoder.layer.')
        else:
            for src, tgt in _TOP:
                if key.startswith(src):
                    dst = tgt + key[len(src):]
                    break
        if dst is None:
            if '.pooler.' in key:
                dropped.setdefault('BERT pooler (unused)', []).append(key)
            else:
                unmapped.append(key)
            continue
        new[dst] = value

    _tie_decoder_bias(new)
    mlm = HEAD_KEYS['mlm'] + '.predictor.'
    report = OrderedDict(
        layout=('MLM (BertForMaskedLM: text_encoder.bert.*)'
                if text_src.endswith('.bert.') else
                'no MLM (BertModel: text_encoder.*)'),
        num_source_keys=len(state_dict),
        num_converted=len(new),
        swin_depths=swin['depths'],
        windows=swin['windows'],
        vision_width=swin['width'],
        text_layers=fusion_start,
        fusion_layers=num_text - fusion_start,
        temperature=temperature,
        clamped=(temperature is not None and
                 1.0 / temperature > MAX_INV_TEMPERATURE),
        mlm_head=any(k.startswith(mlm) for k in new),
        derived=swin['derived'],
        dropped=dropped,
        unmapped=unmapped)
    return new, report


def format_report(report: dict, comparison: Optional[dict] = None) -> str:
    """Human-readable conversion report."""
    out = [f"APTM layout: {report['layout']}",
           f"source keys: {report['num_source_keys']}, converted: "
           f"{report['num_converted']} (of which "
           f"{len(report['derived'])} relative_position_index buffers "
           'derived by tbps)',
           f"Swin depths {report['swin_depths']}, windows "
           f"{report['windows']} (the config's window_sizes must match), "
           f"width {report['vision_width']}",
           f"text layers: {report['text_layers']} (-> text_encoder), fusion "
           f"layers: {report['fusion_layers']} (-> fusion_encoder)",
           f"temperature: {report['temperature']}"
           + (f' (1/tau above {MAX_INV_TEMPERATURE:g}: clamped by '
              'InfoNCELoss unless its max_inv_temperature is raised)'
              if report['clamped'] else ''),
           f"MLM head: {'converted' if report['mlm_head'] else 'absent'}"]
    out += format_key_report(report, comparison)
    return '\n'.join(out)
