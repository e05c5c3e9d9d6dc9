"""MALS: synthetic pre-training pairs with 27 attribute labels."""
import glob
from typing import List

from mmengine.utils import is_abs

from tbps.registry import DATASETS
from .base_dataset import AnnotationError, TextImageDataset
from .cuhk_pedes import load_json, require_keys

NUM_ATTRIBUTES = 27
LABEL_VALUES = frozenset((1, 0, -1))


@DATASETS.register_module()
class MALS(TextImageDataset):
    """MALS (APTM's Multi-Attribute and Language Search pre-training set).

    MALS ships several JSON files (``gene_attrs/*.json``), each a list of
    ``{"image", "caption", "image_id", "label"}``: ``image`` is relative to
    the image folder, ``caption`` one string, ``image_id`` a string such as
    ``"c_g_a_0_17"`` and ``label`` 27 values in ``{1, 0, -1}`` (-1 =
    unknown) in MALS attribute order; they become the records'
    ``attributes``.

    Every record is training data, so only ``split='train'`` exists. Each
    image is its own identity: distinct ``image_id`` values are numbered in
    order of first appearance (over the files in the order given, glob
    matches sorted), which gives ``raw_pid``; ``pid`` is the same number.

    Args:
        data_root (str): Dataset folder.
        ann_file (str | list[str]): One file, a list of files or glob
            patterns (``*``, ``?``, ``[]``), relative to ``data_root``.
        data_prefix (str | dict): Image folder relative to ``data_root``
            (MALS paths start with e.g. ``gene_crop/``, so ``''``).
        split (str): Must be ``'train'``.
        **kwargs: See :class:`TextImageDataset`.
    """

    METAINFO = dict(dataset_name='MALS')

    def __init__(self, data_root: str, ann_file='gene_attrs/*.json',
                 data_prefix='', split: str = 'train', **kwargs):
        if split != 'train':
            raise ValueError(
                f"MALS: split {split!r} does not exist; MALS is pre-training "
                "data with only split='train'. Validate on a benchmark "
                "dataset (e.g. CUHKPEDES with split='val') instead.")
        if not isinstance(ann_file, str) and not list(ann_file):
            raise ValueError('MALS: ann_file is an empty list.')
        super().__init__(data_root=data_root, split=split, ann_file=ann_file,
                         data_prefix=data_prefix, **kwargs)

    def _join_prefix(self):
        """Join ``data_root`` to every file or pattern of ``ann_file``."""
        spec = self.ann_file
        self.ann_file = ''
        super()._join_prefix()  # data_prefix only
        joined = [p if is_abs(p) or not self.data_root
                  else f'{self.data_root.rstrip("/")}/{p}'
                  for p in ([spec] if isinstance(spec, str) else spec)]
        self.ann_file = joined[0] if isinstance(spec, str) else joined

    def ann_files(self) -> List[str]:
        """The annotation files, glob patterns expanded (sorted)."""
        patterns = ([self.ann_file] if isinstance(self.ann_file, str)
                    else self.ann_file)
        files = []
        for pattern in patterns:
            if not any(c in pattern for c in '*?['):
                files.append(self._check_file(pattern))
                continue
            matched = sorted(glob.glob(pattern))
            if not matched:
                raise FileNotFoundError(
                    f'MALS: no annotation file matches {pattern!r}. See the '
                    'README section "Data preparation" for the layout.')
            files.extend(matched)
        return files

    def load_annotations(self) -> List[dict]:
        entries, pid_of = [], {}
        for path in self.ann_files():
            records = load_json(path, 'MALS')
            if not isinstance(records, list):
                raise AnnotationError(
                    f'MALS: {path} must hold a JSON list of records, got '
                    f'{type(records).__name__}.')
            for i, rec in enumerate(records):
                require_keys(rec, ('image', 'caption', 'image_id', 'label'),
                             path, i, 'MALS')
                entries.append(dict(
                    index=i, ann_file=path, img_path=rec['image'],
                    pid=pid_of.setdefault(
                        self._image_id(rec['image_id'], path, i),
                        len(pid_of)),
                    captions=self._captions(rec['caption'], path, i),
                    split='train',
                    attributes=self._labels(rec['label'], path, i)))
        return entries

    @staticmethod
    def _image_id(image_id, path, index):
        if not isinstance(image_id, (str, int)):
            raise AnnotationError(
                f'MALS: {path} record {index} "image_id" must be a string or '
                f'integer, got {type(image_id).__name__}.')
        return image_id

    @staticmethod
    def _captions(caption, path, index) -> list:
        if isinstance(caption, str):
            return [caption]
        if isinstance(caption, list):
            return caption
        raise AnnotationError(
            f'MALS: {path} record {index} "caption" must be a string, got '
            f'{type(caption).__name__}.')

    @staticmethod
    def _labels(label, path, index) -> list:
        if not isinstance(label, list) or len(label) != NUM_ATTRIBUTES:
            got = (f'{len(label)} values' if isinstance(label, list)
                   else type(label).__name__)
            raise AnnotationError(
                f'MALS: {path} record {index} "label" must be a list of '
                f'{NUM_ATTRIBUTES} values in {{1, 0, -1}}, got {got}.')
        try:  # fast path: MALS has 1.5M records
            valid = LABEL_VALUES.issuperset(label)
        except TypeError:  # an unhashable value such as a list
            valid = False
        if not valid:
            j, v = next((j, v) for j, v in enumerate(label)
                        if not _hashable(v) or v not in LABEL_VALUES)
            raise AnnotationError(
                f'MALS: {path} record {index} "label"[{j}] is {v!r}; '
                'attribute labels must be 1, 0 or -1.')
        return label


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True
