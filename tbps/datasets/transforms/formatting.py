"""Packing a pipeline result into ``inputs`` and a :class:`TBPSDataSample`."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from tbps.registry import TRANSFORMS
from tbps.structures import TBPSDataSample


@TRANSFORMS.register_module()
class PackTBPSInputs(BaseTransform):
    """Pack an image (if any) and the record's fields.

    Output: ``dict(inputs=uint8 tensor [3, H, W] or None,
    data_samples=TBPSDataSample)``. The caption stays a string: it is
    tokenised per batch by the data preprocessor, so padding is to the
    longest caption of the batch.

    Args:
        meta_keys (Sequence[str]): Record keys copied as metainfo when
            present.
    """

    DEFAULT_META_KEYS = ('sample_idx', 'img_path', 'gallery_img_path',
                         'image_id', 'pid', 'raw_pid', 'modality', 'caption',
                         'caption_eda', 'phrases', 'ori_shape', 'img_shape',
                         'flip')

    def __init__(self, meta_keys: Sequence[str] = DEFAULT_META_KEYS):
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        inputs = None
        if img is not None:
            img = np.ascontiguousarray(img)
            if img.ndim == 2:
                img = img[..., None]
            inputs = torch.from_numpy(img).permute(2, 0, 1).contiguous()
        sample = TBPSDataSample()
        meta = {k: results[k] for k in self.meta_keys if k in results}
        sample.set_metainfo(meta)
        if results.get('attributes') is not None:
            sample.set_attributes(results['attributes'])
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
