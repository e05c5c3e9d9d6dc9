"""Data sample carrying one image-caption pair, one gallery image or one
query caption through the pipeline, the model and the metric."""
from typing import Optional

import torch
from mmengine.structures import BaseDataElement

#: Kinds of record a dataset yields. Training records are pairs; evaluation
#: splits yield gallery images and query captions.
MODALITIES = ('pair', 'image', 'text')


class TBPSDataSample(BaseDataElement):
    """Fields (all optional): ``pid`` (int identity), ``image_id`` (int),
    ``img_path`` (str), ``caption`` (str), ``caption_eda`` (str, a second
    view of the caption, ``EDACaption``), ``modality`` (one of
    :data:`MODALITIES`), ``sample_idx`` (index in the dataset),
    ``attributes`` (LongTensor [27] in {1, 0, -1}, MALS order and label
    convention, see :mod:`tbps.datasets.synth.attributes`),
    ``phrases`` (list[str], the caption's noun phrases, see
    :mod:`tbps.datasets.phrases`).

    The model adds prediction fields such as ``image_feat`` / ``text_feat``
    ([D] tensors) in ``predict`` mode.
    """

    @property
    def has_image(self) -> bool:
        return self.get('modality', 'pair') in ('pair', 'image')

    @property
    def has_text(self) -> bool:
        return self.get('modality', 'pair') in ('pair', 'text')

    def set_pid(self, pid: int) -> 'TBPSDataSample':
        self.set_field(int(pid), 'pid', field_type='metainfo')
        return self

    def set_attributes(self, attributes) -> 'TBPSDataSample':
        attributes = torch.as_tensor(attributes, dtype=torch.long)
        if attributes.ndim != 1:
            raise ValueError('attributes must be a 1-D sequence, got shape '
                             f'{tuple(attributes.shape)}')
        self.set_field(attributes, 'attributes', dtype=torch.Tensor)
        return self


def stack_pids(data_samples, device: Optional[torch.device] = None):
    """Identity labels of a batch as a LongTensor [B]."""
    return torch.tensor([int(s.pid) for s in data_samples],
                        dtype=torch.long, device=device)
