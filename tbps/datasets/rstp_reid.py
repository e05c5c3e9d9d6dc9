"""RSTPReid (``data_captions.json``)."""
from tbps.registry import DATASETS
from .cuhk_pedes import CUHKPEDES


@DATASETS.register_module()
class RSTPReid(CUHKPEDES):
    """RSTPReid. ``data_root`` holds ``data_captions.json`` and ``imgs/``.

    ``data_captions.json`` is a JSON list of ``{"id", "img_path",
    "captions", "split"}``: ``id`` is the identity, ``img_path`` is relative
    to ``imgs/``, ``captions`` holds two strings and ``split`` is
    ``"train"``, ``"val"`` or ``"test"`` (3,701 / 200 / 200 identities).

    Args:
        data_root (str): Dataset folder.
        ann_file (str): Annotation file, relative to ``data_root``.
        **kwargs: See :class:`TextImageDataset`.
    """

    METAINFO = dict(dataset_name='RSTPReid')
    PATH_KEY = 'img_path'

    def __init__(self, data_root: str, ann_file: str = 'data_captions.json',
                 **kwargs):
        super().__init__(data_root=data_root, ann_file=ann_file, **kwargs)
