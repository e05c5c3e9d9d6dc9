"""Batching: image normalisation and caption tokenisation."""
from typing import List, Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from tbps.registry import MODELS, TOKENIZERS


@MODELS.register_module()
class TBPSDataPreprocessor(BaseDataPreprocessor):
    """Turn a collated batch into model inputs.

    Images of the samples that have one are stacked, converted to float and
    normalised; captions of the samples that have one are tokenised with
    ``tokenizer``. Evaluation batches may mix gallery images and query
    captions, so both parts carry the batch positions they came from.

    Output ``inputs``: ``dict(images=Tensor [Bi, 3, H, W] | None,
    image_index=LongTensor [Bi], text=dict(input_ids, attention_mask) |
    None, text_index=LongTensor [Bt])``.

    Args:
        tokenizer (dict): Config of a tokenizer in ``TOKENIZERS``.
        mean, std (Sequence[float]): Per-channel statistics on 0-255 scale.
        to_rgb (bool): Flip BGR (as loaded by OpenCV) to RGB.
    """

    def __init__(self, tokenizer: dict,
                 mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375),
                 to_rgb: bool = True,
                 non_blocking: bool = False):
        super().__init__(non_blocking)
        self.tokenizer = TOKENIZERS.build(tokenizer)
        self.to_rgb = to_rgb
        self.register_buffer('mean', torch.tensor(mean).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std).view(-1, 1, 1), False)

    def normalize_images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8/float [B, 3, H, W] on 0-255 scale -> normalised float."""
        images = images.to(self.device).float()
        if self.to_rgb:
            images = images.flip(1)
        return (images - self.mean) / self.std

    def tokenize(self, texts: List[str]) -> dict:
        """Tokenise captions and move the id tensors to the model device."""
        return {k: v.to(self.device) for k, v in self.tokenizer(texts).items()}

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        samples = data.get('data_samples')
        if isinstance(inputs, torch.Tensor):  # already stacked by a collate fn
            inputs = list(inputs)
        image_index = [i for i, x in enumerate(inputs) if x is not None]
        images: Optional[torch.Tensor] = None
        if image_index:
            images = self.normalize_images(
                torch.stack([inputs[i] for i in image_index]))
        text_index, texts = [], []
        for i, s in enumerate(samples or []):
            if s.get('caption') is not None and s.get('modality') != 'image':
                text_index.append(i)
                texts.append(s.caption)
        text = self.tokenize(texts) if texts else None
        if samples is not None:
            samples = [s.to(self.device) for s in samples]
        return dict(
            inputs=dict(
                images=images,
                image_index=torch.tensor(image_index, dtype=torch.long),
                text=text,
                text_index=torch.tensor(text_index, dtype=torch.long)),
            data_samples=samples)
