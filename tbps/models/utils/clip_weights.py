"""Reading OpenAI-format CLIP files for encoders that take part of them:
the ResNet image encoder's weights and CM-MoCo's frozen word vectors."""
import hashlib
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import torch
from mmengine.logging import print_log

from tbps.utils.fileio import sha256_of, torch_save_atomic


def load_clip_state_dict(src: str) -> Dict[str, torch.Tensor]:
    """The state dict of an OpenAI-format CLIP checkpoint: a local file
    (TorchScript release or state dict), a URL (downloaded and hash-checked
    into tbps's cache) or a model-zoo name such as ``clip_rn50_openai``."""
    from tbps.converters.clip import load_openai_clip, unwrap_clip_checkpoint
    from tbps.converters.utils import resolve_source
    try:
        path, trusted = resolve_source(src, log=lambda msg: print_log(
            msg, logger='current'))
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f'CLIP checkpoint {src!r} not found: give a local OpenAI-format '
            'CLIP file, its URL, or a model-zoo name (clip_rn50_openai, '
            'clip_vit-b32_openai, ...: tbps.apis.list_models("clip") lists '
            'them).') from err
    checkpoint, _ = load_openai_clip(path, trusted=trusted)
    return unwrap_clip_checkpoint(checkpoint)


def _text_tower(state: Dict[str, torch.Tensor]):
    """OpenAI's text transformer and projection from a state dict."""
    from tbps.converters.clip import _count_blocks
    from tbps.models.encoders.clip_text import CLIPTextEncoder
    needed = ('token_embedding.weight', 'positional_embedding',
              'text_projection', 'ln_final.weight')
    absent = [k for k in needed if k not in state]
    if absent:
        raise ValueError(f'Not an OpenAI CLIP state dict with a text '
                         f'encoder: missing {absent}.')
    vocab, width = state['token_embedding.weight'].shape
    encoder = CLIPTextEncoder(
        vocab_size=int(vocab),
        context_length=int(state['positional_embedding'].shape[0]),
        width=int(width), layers=_count_blocks(state,
                                               'transformer.resblocks.'),
        heads=int(width) // 64)
    text = {k: v.float() for k, v in state.items()
            if k.startswith(('token_embedding.', 'positional_embedding',
                             'transformer.', 'ln_final.'))}
    encoder.load_state_dict(text, strict=True)
    return encoder.eval(), state['text_projection'].float()


@torch.no_grad()
def compute_clip_word_vectors(state: Dict[str, torch.Tensor],
                              words: Sequence[str],
                              batch_size: int = 256) -> torch.Tensor:
    """CLIP's text feature of each word on its own [V, D].

    Each word is tokenised as ``<start> word <end>`` (CLIP's BPE), encoded
    by the text transformer, and the end-token output is projected by
    ``text_projection`` (D = its width: 512 for ViT-B CLIP, 1024 for RN50),
    which is what CLIP gives as the feature of a one-word text.
    """
    from tbps.datasets.tokenizers import CLIPTokenizer
    encoder, projection = _text_tower(state)
    tokenizer = CLIPTokenizer(context_length=encoder.context_length)
    out = []
    for start in range(0, len(words), batch_size):
        tokens = tokenizer(list(words[start:start + batch_size]))
        global_feat, _ = encoder(tokens['input_ids'],
                                 tokens['attention_mask'])
        out.append(global_feat @ projection)
    return torch.cat(out)


def clip_word_vectors(clip_checkpoint: str, words: Sequence[str],
                      cache_dir: Optional[str] = None) -> torch.Tensor:
    """:func:`compute_clip_word_vectors` of a CLIP file, cached.

    The vectors are saved beside the checkpoint (or in ``cache_dir``) as
    ``clip_words_<file sha256[:12]>_<vocabulary sha256[:12]>.pth`` and read
    from there next time; a different file or vocabulary gives another
    name, so a cache is never used for the wrong weights or words.
    """
    from tbps.converters.utils import resolve_source
    try:
        path, _ = resolve_source(clip_checkpoint, log=lambda msg: print_log(
            msg, logger='current'))
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f'model.text_encoder.clip_checkpoint {clip_checkpoint!r} not '
            'found: give an OpenAI-format CLIP file (TorchScript release or '
            'state dict), its URL or a zoo name (clip_vit-b32_openai, as '
            'TextReID, or clip_rn50_openai). Converting is not needed: the '
            'file is read as OpenAI released it.') from err
    vocab_hash = hashlib.sha256('\n'.join(words).encode()).hexdigest()[:12]
    name = f'clip_words_{sha256_of(path)[:12]}_{vocab_hash}.pth'
    cache = osp.join(cache_dir or osp.dirname(osp.abspath(path)), name)
    if osp.isfile(cache):
        vectors = torch.load(cache, map_location='cpu', weights_only=True)
        if vectors.shape[0] == len(words):
            return vectors
    print_log(f'Computing CLIP word vectors of {len(words)} words from '
              f'{path} (once; cached as {cache})', logger='current')
    vectors = compute_clip_word_vectors(load_clip_state_dict(path), words)
    os.makedirs(osp.dirname(cache), exist_ok=True)
    torch_save_atomic(vectors, cache)
    return vectors
