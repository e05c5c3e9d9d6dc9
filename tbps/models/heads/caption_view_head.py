"""Other heads' losses on a second view of each caption (APTM's EDA view)."""
from typing import Dict, Sequence

import torch
import torch.nn as nn

from tbps.registry import MODELS


@MODELS.register_module()
class CaptionViewHead(nn.Module):
    """Run the heads ``heads`` again with each caption replaced by its
    second view, the sample field ``field`` (APTM fine-tuning: ``EDACaption``
    writes ``caption_eda``; the total ``(itc + 0.8 itc_eda) + (itm + 0.8
    itm_eda) + mlm`` is ``loss_weights`` 0.8 for this head).

    The view shares the batch's images and image features; its captions are
    tokenised and encoded anew (:meth:`FusionBatch.with_text`), so the named
    heads see the view as their batch (ITM draws its hard negatives from
    the view's similarities, as APTM). Each returned key gets ``suffix``
    (``loss_itc`` -> ``loss_itc_eda``). Heads with momentum encoders or
    queues cannot run on a view.

    Args:
        tokenizer: The retriever's tokenizer (filled).
        heads (Sequence[str]): Names of the heads to run on the view.
        field (str): The data-sample field holding the second view.
        suffix (str): Appended to the keys the heads return.
    """

    def __init__(self, tokenizer, heads: Sequence[str] = ('itc', 'itm'),
                 field: str = 'caption_eda', suffix: str = '_eda'):
        super().__init__()
        if not heads:
            raise ValueError('CaptionViewHead needs at least one head name.')
        self.tokenizer = tokenizer
        self.head_names = tuple(heads)
        self.field = field
        self.suffix = suffix

    def view_text(self, batch) -> Dict[str, torch.Tensor]:
        """The samples' ``field`` captions, tokenised on the batch device."""
        texts = []
        for i, sample in enumerate(batch.data_samples):
            text = sample.get(self.field)
            if not isinstance(text, str):
                raise KeyError(
                    f'CaptionViewHead: sample {i} ({sample.get("img_path", "?")})'
                    f' has no {self.field!r} caption; add the transform that '
                    f'writes it (e.g. EDACaption for caption_eda) to the '
                    'training pipeline.')
            texts.append(text)
        device = batch.images.device
        return {k: v.to(device) for k, v in self.tokenizer(texts).items()}

    def loss(self, batch) -> Dict[str, torch.Tensor]:
        view = batch.with_text(self.view_text(batch))
        out = {}
        for name in self.head_names:
            if name not in batch.heads:
                raise KeyError(f'CaptionViewHead runs the head {name!r}, '
                               f'which is not in the model\'s heads '
                               f'{list(batch.heads)}.')
            head = batch.heads[name]
            if getattr(head, 'needs_momentum', False):
                raise TypeError(f'CaptionViewHead cannot run {name!r} '
                                f'({type(head).__name__}): it updates '
                                'momentum encoders or queues once per batch.')
            for key, value in head.loss(view).items():
                out[key + self.suffix] = value
        return out
