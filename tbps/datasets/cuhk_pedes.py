"""CUHK-PEDES (``reid_raw.json``) and formats that share its layout."""
import json
from typing import List

from tbps.registry import DATASETS
from .base_dataset import SPLITS, AnnotationError, TextImageDataset


def load_json(path: str, dataset: str):
    """Read a JSON file, turning a decode error into one naming the file."""
    with open(path, encoding='utf-8') as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise AnnotationError(
                f'{dataset}: {path} is not valid JSON ({e}).') from e


def require_keys(record, keys, path: str, index: int, dataset: str):
    """Raise an AnnotationError naming the record if a key is missing."""
    if not isinstance(record, dict):
        raise AnnotationError(f'{dataset}: {path} record {index} is a '
                              f'{type(record).__name__}, not an object.')
    missing = [k for k in keys if k not in record]
    if missing:
        raise AnnotationError(f'{dataset}: {path} record {index} lacks '
                              f'key(s) {missing}; it has {sorted(record)}.')


@DATASETS.register_module()
class CUHKPEDES(TextImageDataset):
    """CUHK-PEDES. ``data_root`` holds ``reid_raw.json`` and ``imgs/``.

    Each record: ``{"split", "captions", "file_path", "id"}`` (``id`` is
    1-based; ``processed_tokens`` is ignored). Extra ``attributes``
    (27 MALS-order labels) are kept when present (SynthPEDES writes them).
    """

    METAINFO = dict(dataset_name='CUHK-PEDES')
    PATH_KEY = 'file_path'

    def __init__(self, data_root: str, ann_file: str = 'reid_raw.json',
                 **kwargs):
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    def load_annotations(self) -> List[dict]:
        name = type(self).__name__
        path = self._check_file(self.ann_file)
        records = load_json(path, name)
        if not isinstance(records, list):
            raise AnnotationError(f'{name}: {path} must hold a JSON list of '
                                  f'records, got {type(records).__name__}.')
        entries = []
        for i, rec in enumerate(records):
            require_keys(rec, ('split', 'captions', self.PATH_KEY, 'id'),
                         path, i, name)
            captions = rec['captions']
            if isinstance(captions, str):
                captions = [captions]
            if not isinstance(captions, list):
                raise AnnotationError(
                    f'{name}: {path} record {i} "captions" must be a list.')
            if rec['split'] not in SPLITS:
                raise AnnotationError(
                    f'{name}: {path} record {i} has split {rec["split"]!r}; '
                    f'expected one of {SPLITS}.')
            try:
                pid = int(rec['id'])
            except (TypeError, ValueError):
                raise AnnotationError(
                    f'{name}: {path} record {i} has a non-integer id '
                    f'{rec["id"]!r}.') from None
            entries.append(dict(
                index=i,
                img_path=rec[self.PATH_KEY],
                pid=pid,
                captions=captions,
                split=rec['split'],
                attributes=rec.get('attributes')))
        return entries
