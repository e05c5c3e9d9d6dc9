"""Where a fusion model looks for a phrase: its cross-attention over the
image patches, and LAIP's forward / backward / bidirectional weights."""
from typing import Dict, Optional, Tuple

import torch

from tbps.models.heads.bidir_attention import (MODES, BidirAttentionPooling,
                                               backward_attention)


def patch_weights(model, image: torch.Tensor, ids, mask, labels,
                  layer: int) -> Dict[str, torch.Tensor]:
    """Forward / backward / bidirectional weights [N] of one masked phrase
    over one normalised image [1, 3, H, W] (LAIP Eqs. 4-7) at fusion layer
    ``layer``; forward only for a model without a masked-token head
    ``heads.mlm`` (ALBEF)."""
    _, image_tokens = model.image_encoder(image)
    _, tokens = model.text_encoder(ids, mask)
    fused, attn = model.fusion_encoder(tokens, mask, image_tokens,
                                       attention_layer=layer)
    head = model.heads['mlm'] if 'mlm' in model.heads else None
    if head is None:
        return dict(forward=BidirAttentionPooling('forward').weights(attn)[0])
    logits = head(fused)
    grad = backward_attention(logits, labels, attn)
    return {mode: BidirAttentionPooling(mode=mode).weights(attn, grad)[0]
            for mode in MODES}


def default_layer(model) -> int:
    """The BidirAtt layer of a LAIP model, else the middle fusion layer."""
    head = model.heads['mlm'] if 'mlm' in model.heads else None
    if head is not None and getattr(head, 'attention_layer', None) is not None:
        return head.attention_layer
    return len(model.fusion_encoder.layer) // 2


def phrase_attention(model, image: torch.Tensor, phrase: str,
                     word: Optional[int] = None, layer: Optional[int] = None,
                     ) -> Tuple[Dict[str, torch.Tensor], Tuple[int, int]]:
    """Patch-weight maps of ``phrase`` over ``image`` for a fusion model.

    Args:
        image: One preprocessed image [1, 3, H, W].
        phrase (str): e.g. ``'a red coat'``.
        word (int, optional): Index (in ``phrase.split()``) of the word
            masked for the backward attention; default its last word.
        layer (int, optional): Fusion layer; default :func:`default_layer`.

    Returns:
        tuple: ``{mode: [gh, gw] weights}`` (``'forward'``, and for models
        with a masked-token head ``'backward'`` and ``'bidirectional'``)
        and the patch grid ``(gh, gw)``.
    """
    from tbps.models.maskers import PhraseMasker
    if not hasattr(model, 'fusion_encoder'):
        raise TypeError(f'{type(model).__name__} has no cross-modal fusion '
                        'encoder: attention maps need ALBEF/LAIP-style '
                        'models.')
    layer = default_layer(model) if layer is None else layer
    masker = PhraseMasker(model.tokenizer)
    word = len(phrase.split()) - 1 if word is None else word
    enc = masker.mask_words([phrase], [word])
    device = image.device
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            weights = patch_weights(
                model, image, enc['masked_ids'].to(device),
                enc['attention_mask'].to(device), enc['labels'].to(device),
                layer)
    finally:
        model.train(was_training)
    num = next(iter(weights.values())).shape[-1]
    grid = patch_grid(model, image.shape[-2:], num)
    return {k: v.detach().float().cpu().reshape(grid)
            for k, v in weights.items()}, grid


def patch_grid(model, size, num_patches: int) -> Tuple[int, int]:
    """(gh, gw) of ``num_patches`` for an image of ``size`` (H, W)."""
    h, w = int(size[0]), int(size[1])
    for gh in range(1, num_patches + 1):
        if num_patches % gh == 0:
            gw = num_patches // gh
            if abs(h / gh - w / gw) < 1e-6:
                return gh, gw
    raise ValueError(f'{num_patches} patches do not tile a {h}x{w} image')
