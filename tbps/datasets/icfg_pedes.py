"""ICFG-PEDES (``ICFG-PEDES.json``)."""
import random
from typing import List

from tbps.registry import DATASETS
from .base_dataset import AnnotationError
from .cuhk_pedes import CUHKPEDES


@DATASETS.register_module()
class ICFGPEDES(CUHKPEDES):
    """ICFG-PEDES. ``data_root`` holds ``ICFG-PEDES.json`` and ``imgs/``.

    Same record layout as CUHK-PEDES: a JSON list of ``{"split",
    "captions", "file_path", "id"}`` with ``file_path`` relative to
    ``imgs/``, but with one caption per image and only the splits
    ``"train"`` and ``"test"``.

    There is **no validation split**, so ``split='val'`` is an error unless
    ``val_ids`` is set. Choose one of:

    * validate on ``split='test'`` and report the *last* checkpoint (a best
      checkpoint chosen on test is not a fair result), or
    * hold out ``val_ids`` training identities as a validation split: pass
      the same ``val_ids`` to the train and the val dataset, so that the
      held-out identities (a fixed random choice, seed 0) leave training.

    Args:
        data_root (str): Dataset folder.
        ann_file (str): Annotation file, relative to ``data_root``.
        val_ids (int): Number of training identities held out as
            ``split='val'`` (0: none, ``'val'`` is refused).
        **kwargs: See :class:`TextImageDataset`.
    """

    METAINFO = dict(dataset_name='ICFG-PEDES')
    HOLDOUT_SEED = 0

    def __init__(self, data_root: str, ann_file: str = 'ICFG-PEDES.json',
                 val_ids: int = 0, **kwargs):
        if int(val_ids) < 0:
            raise ValueError(
                f'ICFGPEDES: val_ids must be >= 0, got {val_ids}.')
        if kwargs.get('split', 'train') == 'val' and not val_ids:
            raise ValueError(
                "ICFGPEDES: ICFG-PEDES has no 'val' split (only 'train' and "
                "'test'). Either validate on split='test' and report the "
                'last checkpoint (not one selected on test), or set '
                'val_ids=N on both the train and the val dataset to hold out '
                'N training identities as a validation split.')
        self.val_ids = int(val_ids)
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)

    def load_annotations(self) -> List[dict]:
        entries = super().load_annotations()
        if not self.val_ids:
            return entries
        train_pids = sorted({e['pid'] for e in entries
                             if e['split'] == 'train'})
        if self.val_ids >= len(train_pids):
            raise AnnotationError(
                f'ICFGPEDES: val_ids={self.val_ids} but {self.ann_file} has '
                f'only {len(train_pids)} training identities.')
        held_out = set(random.Random(self.HOLDOUT_SEED).sample(
            train_pids, self.val_ids))
        for entry in entries:
            if entry['split'] == 'train' and entry['pid'] in held_out:
                entry['split'] = 'val'
        return entries
