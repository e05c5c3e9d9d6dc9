"""Convert OpenAI CLIP checkpoints (ViT models) to tbps's
:class:`~tbps.models.retrievers.DualEncoderRetriever` state-dict layout
(:class:`~tbps.models.encoders.CLIPVisionEncoder` +
:class:`~tbps.models.encoders.CLIPTextEncoder` + two
:class:`~tbps.models.necks.LinearProjection` necks).

Used by ``tools/model_converters/clip2tbps.py`` and, for the position
embedding, by ``CLIPVisionEncoder`` at load time. Key mapping, OpenAI ->
tbps::

    visual.{conv1,class_embedding,positional_embedding,ln_pre,ln_post}.*
                                   image_encoder.{same}
    visual.transformer.resblocks.i image_encoder.transformer.resblocks.i
    visual.proj [C_img, D]         image_proj.proj.weight [D, C_img] (= .T)
    token_embedding, positional_embedding, transformer.resblocks.i, ln_final
                                   text_encoder.{same}
    text_projection [C_txt, D]     text_proj.proj.weight [D, C_txt] (= .T)

OpenAI multiplies ``x @ proj``; ``nn.Linear`` computes ``x @ W.T``, hence the
transposes. The retriever's default necks have a bias, which OpenAI's
projections lack: the converter writes zero biases (``proj_bias=True``) so
that the converted model computes exactly OpenAI's features and nothing is
left at a random init; pass ``proj_bias=False`` for necks built with
``bias=False``. ``visual.positional_embedding`` (a square grid, 14x14 for
ViT-B/16 at 224) is resized bilinearly to the target grid (24x8 at 384x128,
as IRRA does), the [CLS] position kept. Dropped on purpose: ``logit_scale``
(tbps configs set the loss temperature; reported), the TorchScript
archive's metadata scalars ``input_resolution``, ``context_length``,
``vocab_size`` and a stored causal ``attn_mask`` (rebuilt at run time).
"""
import re
import warnings
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import torch

from tbps.utils.download import sha256_from_url  # noqa: F401 (re-export)
from tbps.models.utils.pos_embed import resize_clip_pos_embed, square_grid

from .utils import format_key_report, unwrap_checkpoint

__all__ = ['OPENAI_CLIP_URLS', 'sha256_from_url', 'square_grid',
           'resize_clip_pos_embed', 'load_openai_clip',
           'unwrap_clip_checkpoint', 'convert_clip_state_dict',
           'format_clip_report']

# OpenAI's release URLs carry the file's sha256 as the folder name.
OPENAI_CLIP_URLS = {
    'ViT-B/32': 'https://openaipublic.azureedge.net/clip/models/'
    '40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/'
    'ViT-B-32.pt',
    'ViT-B/16': 'https://openaipublic.azureedge.net/clip/models/'
    '5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/'
    'ViT-B-16.pt',
    'ViT-L/14': 'https://openaipublic.azureedge.net/clip/models/'
    'b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/'
    'ViT-L-14.pt',
}

_SHA256_RE = re.compile(r'^[0-9a-f]{64}$')
_VISUAL_SAME = ('conv1.', 'class_embedding', 'positional_embedding',
                'ln_pre.', 'transformer.resblocks.', 'ln_post.')
_TEXT_SAME = ('token_embedding.', 'positional_embedding', 'transformer.',
              'ln_final.')
_METADATA = ('input_resolution', 'context_length', 'vocab_size')


def load_openai_clip(path: str, trusted: bool = True):
    """Read a CLIP checkpoint file.

    OpenAI's releases are TorchScript archives (``torch.jit.load(path,
    map_location='cpu').state_dict()``); anything else is read with
    ``torch.load``: ``weights_only=True`` first, and for ``trusted`` (the
    user's own, local) files a full unpickle if that fails.

    Returns:
        tuple: ``(checkpoint, kind)`` with kind ``'torchscript'`` or
        ``'state_dict'``.
    """
    try:
        with warnings.catch_warnings():
            # TorchScript is deprecated, but it is OpenAI's release format.
            warnings.simplefilter('ignore', FutureWarning)
            archive = torch.jit.load(path, map_location='cpu')
    except (RuntimeError, ValueError):
        pass  # not a TorchScript archive
    else:
        return OrderedDict(archive.state_dict()), 'torchscript'
    try:
        return torch.load(path, map_location='cpu', weights_only=True), \
            'state_dict'
    except Exception:
        if not trusted:
            raise
    return torch.load(path, map_location='cpu', weights_only=False), \
        'state_dict'


def unwrap_clip_checkpoint(checkpoint) -> Dict[str, torch.Tensor]:
    """The state dict in a CLIP checkpoint: ``checkpoint['state_dict']``
    (open_clip training checkpoints) or the dict itself; a DDP ``module.``
    prefix is removed."""
    return unwrap_checkpoint(checkpoint, keys=('state_dict', 'model'),
                             strip_prefix='module.')


def _count_blocks(state_dict, prefix: str) -> int:
    pattern = re.compile(re.escape(prefix) + r'(\d+)\.')
    found = {int(m.group(1)) for k in state_dict
             for m in [pattern.match(k)] if m}
    return max(found) + 1 if found else 0


def convert_clip_state_dict(state_dict: Dict[str, torch.Tensor],
                            img_size: Optional[Sequence[int]] = None,
                            proj_bias: bool = True,
                            dtype: Optional[torch.dtype] = torch.float32):
    """Convert an OpenAI CLIP (ViT) state dict to ``DualEncoderRetriever``
    keys.

    Args:
        state_dict (dict): OpenAI keys (``visual.*``, ``token_embedding``,
            ...), e.g. the ``state_dict()`` of the TorchScript release, an
            open_clip ``CLIP`` model's or a checkpoint wrapping one.
        img_size (tuple, optional): Target (H, W); the position embedding
            is resized to (H // patch, W // patch). None keeps the grid.
        proj_bias (bool): Also write zero ``*_proj.proj.bias`` tensors.
        dtype (torch.dtype, optional): Cast floating tensors (OpenAI's
            archives are float16); None keeps them.

    Returns:
        tuple: ``(new_state_dict, report)``; ``report`` holds the model
        sizes read from the weights, the grids, the released temperature,
        ``dropped`` (reason -> keys) and ``unmapped`` source keys.
    """
    state_dict = unwrap_clip_checkpoint(state_dict)
    if any(k.startswith(('visual.layer1.', 'visual.attnpool.'))
           for k in state_dict):
        raise ValueError('ResNet CLIP models are not supported: only the '
                         'ViT ones (visual.conv1 + visual.transformer).')
    required = ('visual.conv1.weight', 'visual.positional_embedding',
                'visual.proj', 'token_embedding.weight', 'text_projection')
    absent = [k for k in required if k not in state_dict]
    if absent:
        raise ValueError(f'Not an OpenAI CLIP ViT state dict: missing '
                         f'{absent}.')

    conv = state_dict['visual.conv1.weight']
    vision_width, patch = int(conv.shape[0]), int(conv.shape[-1])
    src_pos = state_dict['visual.positional_embedding']
    num_pos = int(src_pos.shape[0]) - 1
    dst_grid = None if img_size is None else (
        int(img_size[0]) // patch, int(img_size[1]) // patch)
    src_grid = square_grid(num_pos)
    if src_grid is None and dst_grid is not None and \
            dst_grid[0] * dst_grid[1] == num_pos:
        src_grid = dst_grid  # already at the target grid (e.g. IRRA's 24x8)
    if src_grid is None:
        raise ValueError(f'visual.positional_embedding has {num_pos} patch '
                         'positions: neither a square grid nor the '
                         f'{dst_grid} grid of img_size {img_size}.')
    dst_grid = dst_grid or src_grid

    new = OrderedDict()
    dropped: Dict[str, list] = OrderedDict()
    unmapped = []
    dtypes = sorted({str(v.dtype).replace('torch.', '')
                     for v in state_dict.values()
                     if torch.is_tensor(v) and v.is_floating_point()})

    def cast(value):
        if dtype is not None and value.is_floating_point():
            return value.to(dtype)
        return value

    for key, value in state_dict.items():
        if key in _METADATA:
            dropped.setdefault('TorchScript metadata scalars', []).append(key)
            continue
        if key == 'logit_scale':
            dropped.setdefault('logit_scale (the config sets the loss '
                               'temperature)', []).append(key)
            continue
        if key == 'attn_mask' or key.endswith('.attn_mask'):
            dropped.setdefault('causal attention mask (rebuilt at run time)',
                               []).append(key)
            continue
        if key == 'visual.proj':
            new['image_proj.proj.weight'] = cast(value).t().contiguous()
        elif key == 'text_projection':
            new['text_proj.proj.weight'] = cast(value).t().contiguous()
        elif key == 'visual.positional_embedding':
            new['image_encoder.positional_embedding'] = \
                resize_clip_pos_embed(cast(value), src_grid, dst_grid)
        elif key.startswith('visual.') and \
                key[len('visual.'):].startswith(_VISUAL_SAME):
            new['image_encoder.' + key[len('visual.'):]] = cast(value)
        elif key.startswith(_TEXT_SAME):
            new['text_encoder.' + key] = cast(value)
        else:
            unmapped.append(key)
    if proj_bias:
        for name in ('image_proj', 'text_proj'):
            weight = new[f'{name}.proj.weight']
            new[f'{name}.proj.bias'] = weight.new_zeros(weight.shape[0])

    text_width = int(state_dict['token_embedding.weight'].shape[1])
    logit_scale = state_dict.get('logit_scale')
    report = OrderedDict(
        num_source_keys=len(state_dict),
        num_converted=len(new),
        vision_width=vision_width,
        vision_layers=_count_blocks(state_dict,
                                    'visual.transformer.resblocks.'),
        vision_heads=vision_width // 64,
        patch_size=patch,
        src_grid=src_grid,
        dst_grid=tuple(dst_grid),
        src_img_size=(src_grid[0] * patch, src_grid[1] * patch),
        img_size=(None if img_size is None else tuple(int(s)
                                                      for s in img_size)),
        text_width=text_width,
        text_layers=_count_blocks(state_dict, 'transformer.resblocks.'),
        text_heads=text_width // 64,
        context_length=int(state_dict['positional_embedding'].shape[0])
        if 'positional_embedding' in state_dict else None,
        vocab_size=int(state_dict['token_embedding.weight'].shape[0]),
        embed_dim=int(state_dict['text_projection'].shape[1]),
        temperature=(float(1.0 / logit_scale.float().exp())
                     if torch.is_tensor(logit_scale) else None),
        source_dtypes=dtypes,
        proj_bias=proj_bias,
        dropped=dropped,
        unmapped=unmapped,
    )
    return new, report


def format_clip_report(report: dict, comparison: Optional[dict] = None) -> str:
    """Human-readable conversion report (``comparison``: ``missing``,
    ``unexpected``, ``errors`` against a config's model)."""
    r = report
    out = [
        f"source keys: {r['num_source_keys']} "
        f"({', '.join(r['source_dtypes'])}), converted: "
        f"{r['num_converted']}",
        f"vision: width {r['vision_width']}, {r['vision_layers']} layers, "
        f"{r['vision_heads']} heads (width / 64), patch {r['patch_size']}; "
        f"position grid {r['src_grid'][0]}x{r['src_grid'][1]} -> "
        f"{r['dst_grid'][0]}x{r['dst_grid'][1]} (bilinear, [CLS] kept)",
        f"text: width {r['text_width']}, {r['text_layers']} layers, "
        f"{r['text_heads']} heads, context {r['context_length']}, vocabulary "
        f"{r['vocab_size']}; joint embedding {r['embed_dim']}",
        'projections: transposed into image_proj/text_proj' +
        (' with zero biases' if r['proj_bias'] else ' (no bias)'),
        f"released temperature (1 / exp(logit_scale)): {r['temperature']}",
    ]
    out += format_key_report(r, comparison)
    return '\n'.join(out)
