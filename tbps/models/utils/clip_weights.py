"""Reading OpenAI-format CLIP files for encoders that take part of them:
the ResNet image encoder's weights and CM-MoCo's frozen word vectors."""
import hashlib
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import torch
from mmengine.logging import print_log

from tbps.utils.fileio import sha256_of, torch_save_atomic


def resolve_clip_file(src: str, what: str = 'CLIP checkpoint'):
    """``(local path, trusted)`` of an OpenAI-format CLIP file given as a
    path, a URL (downloaded once into tbps's cache, hash-checked) or a zoo
    name; a missing one is an error naming the zoo entries."""
    from tbps.converters.utils import resolve_source
    try:
        return resolve_source(src, log=lambda msg: print_log(
            msg, logger='current'))
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f'{what} {src!r} not found: give an OpenAI-format CLIP file '
            '(the TorchScript release or a state dict; no conversion '
            'needed), its URL, or a model-zoo name such as '
            'clip_vit-b32_openai (TextReID\'s word vectors) or '
            'clip_rn50_openai; tbps.apis.list_models("clip*") lists '
            'them.') from err


def load_clip_state_dict(src: str) -> Dict[str, torch.Tensor]:
    """The state dict of an OpenAI-format CLIP checkpoint (path, URL or
    zoo name, see :func:`resolve_clip_file`)."""
    return _read_clip_file(*resolve_clip_file(src))


def _read_clip_file(path: str, trusted: bool) -> Dict[str, torch.Tensor]:
    from tbps.converters.clip import load_openai_clip, unwrap_clip_checkpoint
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
    path, trusted = resolve_clip_file(clip_checkpoint,
                                      'model.text_encoder.clip_checkpoint')
    vocab_hash = hashlib.sha256('\n'.join(words).encode()).hexdigest()[:12]
    name = f'clip_words_{sha256_of(path)[:12]}_{vocab_hash}.pth'
    cache = osp.join(cache_dir or osp.dirname(osp.abspath(path)), name)
    if osp.isfile(cache):
        vectors = torch.load(cache, map_location='cpu', weights_only=True)
        if vectors.shape[0] == len(words):
            return vectors
    print_log(f'Computing CLIP word vectors of {len(words)} words from '
              f'{path} (once; cached as {cache})', logger='current')
    vectors = compute_clip_word_vectors(
        _read_clip_file(path, trusted), words)
    os.makedirs(osp.dirname(cache), exist_ok=True)
    torch_save_atomic(vectors, cache)
    return vectors
