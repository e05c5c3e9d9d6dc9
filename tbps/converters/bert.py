"""Convert a Hugging Face BERT checkpoint (``bert-base-uncased``'s
``model.safetensors`` or ``pytorch_model.bin``) into the initialisation that
tbps's fusion models (ALBEF, APTM: ``BertTextEncoder`` + ``BertFusionEncoder``
+ an MLM head) take from BERT.

Used by ``tools/model_converters/bert2tbps.py``; nothing here is registered.
Key mapping, BERT -> tbps (``K`` = ``text_layers``, 6 for BERT-base in ALBEF
and APTM; ``[bert.]`` present in BertForPreTraining / BertForMaskedLM files,
absent in BertModel ones); the layer mapping is ALBEF's
(:func:`tbps.converters.albef._map_bert`) without cross-attention::

    [bert.]embeddings                   text_encoder.bert.embeddings
    [bert.]encoder.layer.i              text_encoder.bert.encoder.layer.i
                                            (i < K)
    [bert.]encoder.layer.i              fusion_encoder.layer.{i-K} (i >= K)
    cls.predictions                     heads.mlm.predictor (BERT LM head)

BERT ties the LM decoder to the word embeddings and its bias to
``cls.predictions.bias``; files saved by transformers store neither copy,
so ``decoder.weight`` / ``decoder.bias`` are derived from them (tbps's MLM
head keeps its own decoder, starting from the same values). Not in BERT:
the fusion layers' ``crossattention.*`` (reported; they keep the model's
random initialisation, as in ALBEF and APTM). Dropped: the pooler, the NSP
classifier (``cls.seq_relationship``) and the ``position_ids`` /
``token_type_ids`` buffers. The names of the 2018 release
(``LayerNorm.gamma`` / ``.beta``, still in ``bert-base-uncased``'s files)
are read as ``weight`` / ``bias``, as transformers reads them.
"""
import os.path as osp
import re
from collections import OrderedDict
from typing import Dict, Optional, Tuple

import torch

from .albef import _LAYER_RE, HEAD_KEYS, _map_bert
from .utils import (compare_with_model, format_key_report,
                    load_source_checkpoint, resolve_source,
                    summarize_keys, unwrap_checkpoint)

__all__ = ['convert_bert_state_dict', 'resolve_bert_source',
           'load_bert_checkpoint', 'compare_with_bert_targets',
           'format_report']

#: Weight files of a transformers model folder, in the order transformers
#: prefers them.
WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin')
#: The parts of a tbps model a BERT checkpoint initialises.
TARGETS = ('text_encoder.', 'fusion_encoder.', HEAD_KEYS['mlm'] + '.')
_LEGACY = ((re.compile(r'LayerNorm\.gamma$'), 'LayerNorm.weight'),
           (re.compile(r'LayerNorm\.beta$'), 'LayerNorm.bias'))
_HUB_ID = re.compile(r'^[\w.-]+(/[\w.-]+)?$')


def _weights_in(folder: str) -> str:
    for name in WEIGHT_FILES:
        path = osp.join(folder, name)
        if osp.isfile(path):
            return path
    raise FileNotFoundError(f'{folder} holds none of {list(WEIGHT_FILES)} '
                            '(a sharded checkpoint: save it unsharded).')


def _hub_file(name: str, log=print) -> str:
    """The weight file of a Hugging Face model ``name`` from the hub cache
    (downloaded unless ``HF_HUB_OFFLINE=1``)."""
    from huggingface_hub import hf_hub_download
    errors = []
    for filename in WEIGHT_FILES:
        try:
            path = hf_hub_download(name, filename)
        except Exception as err:  # missing file, offline, unknown repo
            errors.append(f'{filename}: {type(err).__name__}')
            continue
        log(f'{name}: {path}')
        return path
    raise FileNotFoundError(f'{name!r}: no weights in the Hugging Face '
                            f"cache or hub ({'; '.join(errors)}).")


def resolve_bert_source(src: str, log=print) -> Tuple[str, bool]:
    """``(local path, trusted)`` of a BERT SRC: a folder holding
    ``model.safetensors`` or ``pytorch_model.bin``, or anything
    :func:`~tbps.converters.utils.resolve_source` takes (a file, an http(s)
    URL, a model-zoo name), or a Hugging Face model name (the zoo's
    ``bert-base-uncased`` entry is one), read from transformers' cache."""
    path = osp.expanduser(src)
    if osp.isdir(path):
        return _weights_in(path), True
    try:
        return resolve_source(src, log=log)
    except FileNotFoundError as err:
        hub = src
        from tbps.apis.model_zoo import list_models, weights_of
        if src.lower() in list_models():
            hub = weights_of(src)
        if not _HUB_ID.match(hub):
            raise
        try:
            return _hub_file(hub, log=log), False
        except FileNotFoundError as hub_err:
            raise FileNotFoundError(
                f'{err} Nor is it a folder with {list(WEIGHT_FILES)}, and as '
                f'a Hugging Face model: {hub_err}') from None


def _is_safetensors(path: str) -> bool:
    """A ``.safetensors`` name, or its header: an 8-byte little-endian
    length followed by a JSON object."""
    if path.endswith('.safetensors'):
        return True
    with open(path, 'rb') as f:
        head = f.read(9)
    return (len(head) == 9 and head[8:] == b'{' and
            int.from_bytes(head[:8], 'little') < osp.getsize(path))


def load_bert_checkpoint(path: str, trust: bool = False
                         ) -> Dict[str, torch.Tensor]:
    """The state dict of a BERT weight file: safetensors, or a torch file
    read as :func:`~tbps.converters.utils.load_source_checkpoint` reads
    it."""
    if _is_safetensors(path):
        from safetensors.torch import load_file
        return load_file(path)
    return unwrap_checkpoint(load_source_checkpoint(path, trust=trust))


def _modern_name(key: str) -> str:
    for pattern, new in _LEGACY:
        key = pattern.sub(new, key)
    return key


def convert_bert_state_dict(state_dict: Dict[str, torch.Tensor],
                            text_layers: int = 6
                            ) -> Tuple[Dict[str, torch.Tensor], dict]:
    """Convert a BERT state dict to tbps fusion-model keys.

    Args:
        state_dict (dict): BertForPreTraining / BertForMaskedLM
            (``bert.*``, ``cls.*``) or BertModel keys (a ``{'state_dict':
            ...}`` checkpoint is unwrapped).
        text_layers (int): ``K``: layers ``0..K-1`` initialise the text
            encoder, ``K..`` the fusion encoder.

    Returns:
        tuple: ``(new_state_dict, report)``; ``report`` holds ``layout``,
        counts, ``num_layers``, ``text_layers`` / ``fusion_layers``,
        ``width``, ``vocab_size``, ``mlm_head``, ``renamed`` (legacy
        LayerNorm names), ``derived`` (keys made here), ``not_in_bert``
        (the fusion layers' cross-attention keys), ``dropped`` (reason ->
        keys) and ``unmapped``.
    """
    state_dict = unwrap_checkpoint(state_dict)
    renamed = [k for k in state_dict if _modern_name(k) != k]
    state_dict = OrderedDict((_modern_name(k), v)
                             for k, v in state_dict.items())
    if 'bert.embeddings.word_embeddings.weight' in state_dict:
        src = 'bert.'
    elif 'embeddings.word_embeddings.weight' in state_dict:
        src = ''
    else:
        raise ValueError('Not a BERT checkpoint: expected '
                         '[bert.]embeddings.word_embeddings.weight.')
    if any('.crossattention.' in k for k in state_dict):
        raise ValueError('This BERT has cross-attention layers: an ALBEF or '
                         'APTM model? Use albef2tbps.py / aptm2tbps.py.')
    layers = sorted({int(m.group(1)) for k in state_dict
                     if k.startswith(src)
                     for m in [_LAYER_RE.match(k[len(src):])] if m})
    if layers != list(range(len(layers))) or not layers:
        raise ValueError(f'BERT layers {layers} are not 0..N-1.')
    if not 0 < text_layers < len(layers):
        raise ValueError(f'text_layers must be in 1..{len(layers) - 1} for '
                         f'a BERT of {len(layers)} layers, got '
                         f'{text_layers}.')

    new = OrderedDict()
    dropped: Dict[str, list] = OrderedDict()
    unmapped, not_in_bert = [], []
    mlm = HEAD_KEYS['mlm'] + '.predictor.'
    for key, value in state_dict.items():
        dst = None
        if key.endswith(('embeddings.position_ids',
                         'embeddings.token_type_ids')):
            dropped.setdefault('position_ids / token_type_ids buffers (not '
                               'persistent in transformers)', []).append(key)
            continue
        if key.startswith('cls.predictions.'):
            dst = mlm + key[len('cls.predictions.'):]
        elif key.startswith(src):
            rest = key[len(src):]
            dst = _map_bert(rest, text_layers, 'text_encoder.bert.',
                            'fusion_encoder.layer.')
            m = _LAYER_RE.match(rest)
            if m and int(m.group(1)) >= text_layers and \
                    m.group(2).startswith('attention.'):
                # cross-attention is a BertAttention like self-attention
                not_in_bert.append(dst.replace('.attention.',
                                               '.crossattention.', 1))
        if dst is None:
            if key.startswith(src + 'pooler.'):
                dropped.setdefault('BERT pooler (unused)', []).append(key)
            elif key.startswith('cls.seq_relationship.'):
                dropped.setdefault('next-sentence classifier (unused)',
                                   []).append(key)
            else:
                unmapped.append(key)
            continue
        new[dst] = value

    derived = []
    has_mlm = any(k.startswith(mlm) for k in new)
    words = new['text_encoder.bert.embeddings.word_embeddings.weight']
    for name, value in (('decoder.weight', words),
                        ('decoder.bias', new.get(mlm + 'bias')),
                        ('bias', new.get(mlm + 'decoder.bias'))):
        if has_mlm and mlm + name not in new and value is not None:
            new[mlm + name] = value  # tied in BERT
            derived.append(mlm + name)
    report = OrderedDict(
        layout=('BertForPreTraining / BertForMaskedLM (bert.*)' if src else
                'BertModel (no bert. prefix)'),
        num_source_keys=len(state_dict),
        num_converted=len(new),
        num_layers=len(layers),
        text_layers=text_layers,
        fusion_layers=len(layers) - text_layers,
        width=int(words.shape[1]),
        vocab_size=int(words.shape[0]),
        mlm_head=has_mlm,
        renamed=renamed,
        derived=derived,
        not_in_bert=not_in_bert,
        dropped=dropped,
        unmapped=unmapped)
    return new, report


def compare_with_bert_targets(state_dict: Dict[str, torch.Tensor],
                              model: torch.nn.Module) -> dict:
    """:func:`~tbps.converters.utils.compare_with_model`, with the missing
    keys restricted to what BERT initialises (:data:`TARGETS`): a model's
    image encoder, projections and other heads are not BERT's to fill."""
    comparison = compare_with_model(state_dict, model)
    comparison['missing'] = [k for k in comparison['missing']
                             if k.startswith(TARGETS)]
    return comparison


def format_report(report: dict, comparison: Optional[dict] = None) -> str:
    """Human-readable conversion report."""
    out = [f"BERT layout: {report['layout']}",
           f"source keys: {report['num_source_keys']}, converted: "
           f"{report['num_converted']} (of which {len(report['derived'])} "
           'tied LM-decoder tensors derived)',
           f"layers: {report['num_layers']} = {report['text_layers']} "
           f"(-> text_encoder) + {report['fusion_layers']} (-> "
           f"fusion_encoder); width {report['width']}, vocabulary "
           f"{report['vocab_size']}",
           f"MLM head: {'converted' if report['mlm_head'] else 'absent'}"]
    if report['renamed']:
        out.append(f"legacy LayerNorm gamma/beta names read as weight/bias: "
                   f"{len(report['renamed'])}")
    out.append(f"not in BERT (keep the model's initialisation): "
               f"{len(report['not_in_bert'])}")
    out += ['    ' + line for line in summarize_keys(report['not_in_bert'])]
    out += format_key_report(report, comparison)
    if comparison is not None:
        other = sorted(set(comparison['missing']) -
                       set(report['not_in_bert']))
        if other:
            out.append(f'missing besides the cross-attention: {len(other)} '
                       '(does the config\'s text_encoder.num_layers equal '
                       '--text-layers?)')
    return '\n'.join(out)
