"""Convert official ALBEF checkpoints (salesforce/ALBEF) to tbps's
:class:`~tbps.models.retrievers.FusionRetriever` state-dict layout.

Used by ``tools/model_converters/albef2tbps.py``; nothing here is
registered. Key mapping, ALBEF -> tbps (``N`` = ALBEF's ``fusion_layer``,
6, found as the first text layer with cross-attention; ``[.bert]`` present
in pre-training checkpoints, absent in retrieval ones)::

    visual_encoder.{cls_token,pos_embed}  image_encoder.backbone.{same}
    visual_encoder.patch_embed.proj       image_encoder.backbone.patch_embed
                                              .projection
    visual_encoder.blocks.i.norm1         image_encoder.backbone.layers.i.ln1
    visual_encoder.blocks.i.attn.qkv      ...layers.i.attn.qkv
    visual_encoder.blocks.i.attn.proj     ...layers.i.attn.proj
    visual_encoder.blocks.i.norm2         ...layers.i.ln2
    visual_encoder.blocks.i.mlp.fc1       ...layers.i.ffn.layers.0.0
    visual_encoder.blocks.i.mlp.fc2       ...layers.i.ffn.layers.1
    visual_encoder.norm                   image_encoder.backbone.ln1
    text_encoder[.bert].embeddings        text_encoder.bert.embeddings
    text_encoder[.bert].encoder.layer.i   text_encoder.bert.encoder.layer.i
                                              (i < N)
    text_encoder[.bert].encoder.layer.i   fusion_encoder.layer.{i-N} (i >= N)
    text_encoder.cls.predictions          heads.mlm.predictor (BERT LM head;
                                              decoder.bias tied to bias)
    vision_proj / text_proj               image_proj.proj / text_proj.proj
    itm_head                              heads.itm.fc
    temp                                  heads.itc.loss_module
                                              .log_temperature (= log)
    visual_encoder_m                      momentum.module.image_encoder
                                              .backbone (as above)
    text_encoder_m[.bert] (layers < N)    momentum.module.text_encoder.bert
    vision_proj_m / text_proj_m           momentum.module.{image,text}_proj
                                              .proj

``momentum.steps`` is set to 1 so that the first EMA update blends the
converted momentum weights instead of overwriting them with the online ones.
Dropped on purpose: the feature queues (``image_queue``, ``text_queue``,
``queue_ptr``, ``idx_queue`` -- COCO/Flickr image ids, not person ids),
``embeddings.position_ids`` (a non-persistent buffer in transformers >= 4.31),
a ``pooler`` and the momentum
model's fusion layers / MLM head (tbps's momentum model has the unimodal
encoders and projections; copies a head adds, e.g. AGA's momentum TEM
predictor, start as the loaded online weights).
"""
import math
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from .utils import (compare_with_model, format_key_report,
                            unwrap_checkpoint)

__all__ = ['convert_albef_state_dict', 'unwrap_albef_checkpoint',
           'format_report', 'compare_with_model']

_VIT_BLOCK = [
    ('norm1.', 'ln1.'),
    ('attn.qkv.', 'attn.qkv.'),
    ('attn.proj.', 'attn.proj.'),
    ('norm2.', 'ln2.'),
    ('mlp.fc1.', 'ffn.layers.0.0.'),
    ('mlp.fc2.', 'ffn.layers.1.'),
]
_VIT_TOP = [
    ('cls_token', 'cls_token'),
    ('pos_embed', 'pos_embed'),
    ('patch_embed.proj.', 'patch_embed.projection.'),
    ('norm.', 'ln1.'),
]
#: Names of the heads in tbps's ALBEF/LAIP configs that receive ALBEF's
#: ITC temperature, ITM classifier and MLM head.
HEAD_KEYS = dict(itc='heads.itc', itm='heads.itm', mlm='heads.mlm')
_QUEUES = ('image_queue', 'text_queue', 'queue_ptr', 'idx_queue')
_LAYER_RE = re.compile(r'^encoder\.layer\.(\d+)\.(.*)$')


def unwrap_albef_checkpoint(checkpoint) -> Dict[str, torch.Tensor]:
    """The state dict of an ALBEF checkpoint: ``checkpoint['model']`` (how
    ALBEF saves), ``checkpoint['state_dict']``, or the dict itself."""
    return unwrap_checkpoint(checkpoint, keys=('model', 'state_dict'),
                             strip_prefix=None)


def _map_vit(rest: str) -> Optional[str]:
    m = re.match(r'^blocks\.(\d+)\.(.*)$', rest)
    if m:
        for src, dst in _VIT_BLOCK:
            if m.group(2).startswith(src):
                return f'layers.{m.group(1)}.{dst}{m.group(2)[len(src):]}'
        return None
    for src, dst in _VIT_TOP:
        if rest == src or (src.endswith('.') and rest.startswith(src)):
            return dst + rest[len(src):]
    return None


def _text_prefix(state_dict, base: str) -> Optional[str]:
    """``base + 'bert.'`` (BertForMaskedLM, pre-training checkpoints) or
    ``base + '.'`` (BertModel, retrieval checkpoints); None if absent."""
    if any(k.startswith(base + '.bert.') for k in state_dict):
        return base + '.bert.'
    if any(k.startswith(base + '.embeddings.') or
           k.startswith(base + '.encoder.') for k in state_dict):
        return base + '.'
    return None


def _fusion_start(state_dict, prefix: str) -> Tuple[int, int]:
    """(first layer with cross-attention, number of text layers)."""
    layers, cross = set(), set()
    for key in state_dict:
        if not key.startswith(prefix):
            continue
        m = _LAYER_RE.match(key[len(prefix):])
        if m:
            layers.add(int(m.group(1)))
            if m.group(2).startswith('crossattention.'):
                cross.add(int(m.group(1)))
    if not layers:
        raise ValueError(f'No BERT layers under {prefix!r}.')
    if not cross:
        raise ValueError(
            f'No layer under {prefix!r} has cross-attention; is this an '
            'ALBEF checkpoint (fusion layers 6-11)?')
    start, total = min(cross), max(layers) + 1
    if cross != set(range(start, total)):
        raise ValueError(f'Cross-attention layers {sorted(cross)} are not '
                         f'the last layers of {total}.')
    return start, total


def _tie_decoder_bias(new: Dict[str, torch.Tensor]) -> None:
    """BERT ties the LM decoder bias to ``bias``; a file may store only the
    latter: fill ``decoder.bias`` of the MLM predictor from it."""
    mlm = HEAD_KEYS['mlm'] + '.predictor.'
    if mlm + 'bias' in new and mlm + 'decoder.bias' not in new:
        new[mlm + 'decoder.bias'] = new[mlm + 'bias']


def _map_bert(rest: str, fusion_start: int, text_dst: str,
              fusion_dst: Optional[str]) -> Optional[str]:
    """Map a key below ``text_encoder[.bert].``; None = not a tbps key."""
    if rest.startswith('embeddings.'):
        return text_dst + rest
    m = _LAYER_RE.match(rest)
    if m:
        idx = int(m.group(1))
        if idx < fusion_start:
            return f'{text_dst}encoder.layer.{idx}.{m.group(2)}'
        if fusion_dst is not None:
            return f'{fusion_dst}{idx - fusion_start}.{m.group(2)}'
    return None


def convert_albef_state_dict(state_dict: Dict[str, torch.Tensor],
                             momentum: bool = True):
    """Convert an ALBEF state dict (pre-training or retrieval layout, or a
    checkpoint wrapping one) to tbps ``FusionRetriever`` keys.

    Args:
        state_dict (dict): ALBEF ``model`` state dict (a ``{'model': ...}``
            checkpoint is unwrapped).
        momentum (bool): Keep the momentum encoders (``*_m``) as
            ``momentum.module.*`` and set ``momentum.steps`` to 1. Without,
            they are dropped and tbps copies the online weights on the first
            EMA update.

    Returns:
        tuple: ``(new_state_dict, report)``; ``report`` holds ``layout``,
        counts, ``text_layers``/``fusion_layers``/``vision_depth``,
        ``temperature``, ``pos_embed_tokens``, ``dropped`` (reason -> keys)
        and ``unmapped`` (source keys with no tbps counterpart).
    """
    state_dict = unwrap_albef_checkpoint(state_dict)
    text_src = _text_prefix(state_dict, 'text_encoder')
    if text_src is None or not any(
            k.startswith('visual_encoder.') for k in state_dict):
        raise ValueError('Not an ALBEF checkpoint: expected visual_encoder.* '
                         'and text_encoder.* keys.')
    fusion_start, num_text = _fusion_start(state_dict, text_src)
    text_m_src = _text_prefix(state_dict, 'text_encoder_m')

    new = OrderedDict()
    dropped: Dict[str, list] = OrderedDict()
    unmapped = []
    source_of = {}

    def drop(reason, key):
        dropped.setdefault(reason, []).append(key)

    def put(dst, key, value):
        if dst in new:
            raise ValueError(f'{key!r} and {source_of[dst]!r} both map to '
                             f'{dst!r}.')
        new[dst] = value
        source_of[dst] = key

    momentum_keys = ('visual_encoder_m.', 'vision_proj_m.', 'text_proj_m.',
                     'text_encoder_m.')
    for key, value in state_dict.items():
        if key in _QUEUES:
            drop('queues (rebuilt empty; idx_queue holds image ids, not '
                 'person ids)', key)
            continue
        if key.endswith('embeddings.position_ids'):
            drop('position_ids buffer (not persistent in transformers)', key)
            continue
        if not momentum and key.startswith(momentum_keys):
            drop('momentum encoders (--no-momentum)', key)
            continue
        dst = None
        if key == 'temp':
            temp = float(value.reshape(()))
            if not temp > 0:
                raise ValueError(f'ALBEF temp must be positive, got {temp}.')
            dst = HEAD_KEYS['itc'] + '.loss_module.log_temperature'
            value = torch.tensor(math.log(temp), dtype=torch.float32)
        elif key.startswith('text_encoder.cls.predictions.'):
            rest = key[len('text_encoder.cls.predictions.'):]
            dst = HEAD_KEYS['mlm'] + '.predictor.' + rest
        elif key.startswith('visual_encoder.') or \
                key.startswith('visual_encoder_m.'):
            online = key.startswith('visual_encoder.')
            rest = key.split('.', 1)[1]
            sub = _map_vit(rest)
            if sub is not None:
                dst = ('image_encoder.backbone.' if online else
                       'momentum.module.image_encoder.backbone.') + sub
        elif key.startswith(text_src):
            dst = _map_bert(key[len(text_src):], fusion_start,
                            'text_encoder.bert.', 'fusion_encoder.layer.')
        elif text_m_src is not None and key.startswith(text_m_src):
            rest = key[len(text_m_src):]
            dst = _map_bert(rest, fusion_start,
                            'momentum.module.text_encoder.bert.', None)
            if dst is None and (_LAYER_RE.match(rest) or
                                rest.startswith('pooler.')):
                drop('momentum fusion layers (tbps momentum model is '
                     'unimodal)', key)
                continue
        elif key.startswith('text_encoder_m.cls.'):
            drop('momentum MLM head (tbps momentum model has none)', key)
            continue
        else:
            for src, tgt in (('vision_proj.', 'image_proj.proj.'),
                             ('text_proj.', 'text_proj.proj.'),
                             ('itm_head.', HEAD_KEYS['itm'] + '.fc.'),
                             ('vision_proj_m.',
                              'momentum.module.image_proj.proj.'),
                             ('text_proj_m.',
                              'momentum.module.text_proj.proj.')):
                if key.startswith(src):
                    dst = tgt + key[len(src):]
                    break
        if dst is None:
            if '.pooler.' in key:
                drop('BERT pooler (unused)', key)
            else:
                unmapped.append(key)
            continue
        put(dst, key, value)

    _tie_decoder_bias(new)
    has_momentum = any(k.startswith('momentum.module.') for k in new)
    if has_momentum:
        new['momentum.steps'] = torch.tensor(1, dtype=torch.long)

    vit_layers = {int(m.group(1)) for k in state_dict
                  for m in [re.match(r'^visual_encoder\.blocks\.(\d+)\.', k)]
                  if m}
    pos = state_dict.get('visual_encoder.pos_embed')
    report = OrderedDict(
        layout=('pretrain (BertForMaskedLM: text_encoder.bert.*)'
                if text_src.endswith('.bert.') else
                'retrieval (BertModel: text_encoder.*)'),
        num_source_keys=len(state_dict),
        num_converted=len(new),
        text_layers=fusion_start,
        fusion_layers=num_text - fusion_start,
        vision_depth=len(vit_layers),
        vision_width=(int(pos.shape[-1]) if pos is not None else None),
        text_width=int(state_dict[
            text_src + 'embeddings.word_embeddings.weight'].shape[-1])
        if text_src + 'embeddings.word_embeddings.weight' in state_dict
        else None,
        pos_embed_tokens=(int(pos.shape[1]) if pos is not None else None),
        temperature=(float(state_dict['temp'].reshape(()))
                     if 'temp' in state_dict else None),
        mlm_head=any(k.startswith(HEAD_KEYS['mlm'] + '.predictor.')
                     for k in new),
        momentum=has_momentum,
        dropped=dropped,
        unmapped=unmapped,
    )
    return new, report


def format_report(report: dict, comparison: Optional[dict] = None) -> str:
    """Human-readable conversion report."""
    out = [f"ALBEF layout: {report['layout']}",
           f"source keys: {report['num_source_keys']}, converted: "
           f"{report['num_converted']}",
           f"text layers: {report['text_layers']} (-> text_encoder), fusion "
           f"layers: {report['fusion_layers']} (-> fusion_encoder), ViT "
           f"depth: {report['vision_depth']}",
           f"widths: vision {report['vision_width']}, text "
           f"{report['text_width']}; pos_embed tokens "
           f"{report['pos_embed_tokens']} (square grid; mmpretrain's "
           'VisionTransformer resizes it to the model grid on load)',
           f"temperature: {report['temperature']}",
           f"MLM head: {'converted' if report['mlm_head'] else 'absent'}; "
           'momentum encoders: ' + ('converted (momentum.steps=1)'
                                    if report['momentum'] else
                                    'not converted')]
    out += format_key_report(report, comparison)
    return '\n'.join(out)
