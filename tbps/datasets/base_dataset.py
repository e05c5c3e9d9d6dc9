"""Shared logic of every text-based person search dataset.

A format subclass only parses its annotation file into *image entries*
(:meth:`load_annotations`); this base class selects the split and expands
the entries into the records the pipeline sees:

* ``split='train'``: one ``'pair'`` record per (image, caption), pids
  remapped to ``0..num_ids-1`` (the original id is kept as ``raw_pid``).
* ``split='val'`` / ``'test'``: first one ``'image'`` record per gallery
  image, then one ``'text'`` record per query caption. Query and gallery
  share the original pids.
"""
import logging
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.dataset import BaseDataset, Compose
from mmengine.logging import print_log

from .worker_seeding import reseed_worker

SPLITS = ('train', 'val', 'test')


def _decodes(path: str) -> bool:
    """Whether ``path`` is an image PIL can decode."""
    from PIL import Image
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except Exception:
        return False


class AnnotationError(ValueError):
    """A malformed annotation file; the message names file and record."""


class TextImageDataset(BaseDataset):
    """Base class of TBPS datasets.

    Args:
        data_root (str): Dataset folder.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        ann_file (str): Annotation file, relative to ``data_root``.
        data_prefix (str | dict): Image folder relative to ``data_root``
            (``dict(img_path=...)`` also accepted).
        pipeline (Sequence[dict]): Transforms for records with an image
            (training pairs and gallery images).
        query_pipeline (Sequence[dict]): Transforms for caption-only query
            records of evaluation splits. Defaults to packing only.
        empty_caption (str): ``'skip'`` drops empty captions and warns once
            with their count; ``'error'`` raises naming the record.
        bad_image (str): An image that is missing or cannot be decoded:
            ``'error'`` (default) stops naming the file and the record;
            ``'skip'`` (training only) warns with a running count and
            trains on another record instead (mmengine re-fetches).
        indices (int | Sequence[int], optional): Keep a subset of records
            (mmengine semantics), useful for quick experiments.
        phrase_cfg (dict, optional): Attach noun phrases (LAIP's MPM), e.g.
            ``dict(cache_file='phrases.json', backend='auto')``: every record
            with a caption gets ``phrases`` (list[str]) from the cache
            (``cache_file`` relative to ``data_root``); captions missing
            from it are parsed and added (see
            :func:`tbps.datasets.phrases.load_or_build_phrase_cache`).
    """

    METAINFO = dict(dataset_name='tbps')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 ann_file: str = '',
                 data_prefix='imgs',
                 pipeline: Sequence = (),
                 query_pipeline: Sequence = (dict(type='PackTBPSInputs'), ),
                 empty_caption: str = 'skip',
                 phrase_cfg: Optional[dict] = None,
                 bad_image: str = 'error',
                 **kwargs):
        if split not in SPLITS:
            raise ValueError(
                f'Unknown split {split!r} for {type(self).__name__} at '
                f'{data_root!r}; expected one of {SPLITS}.')
        if empty_caption not in ('skip', 'error'):
            raise ValueError("empty_caption must be 'skip' or 'error', got "
                             f'{empty_caption!r}.')
        if bad_image not in ('error', 'skip'):
            raise ValueError("bad_image must be 'error' or 'skip', got "
                             f'{bad_image!r}.')
        if bad_image == 'skip' and split != 'train':
            raise ValueError("bad_image='skip' is for training splits: an "
                             'evaluation split must keep every gallery '
                             f'image ({type(self).__name__} split {split!r}).')
        self.split = split
        self.empty_caption = empty_caption
        self.bad_image = bad_image
        self.num_bad_images = 0
        self.phrase_cfg = phrase_cfg
        self._pids = None  # filled when the records are serialised
        if isinstance(data_prefix, str):
            data_prefix = dict(img_path=data_prefix)
        self.query_pipeline = Compose(query_pipeline)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=data_prefix,
            pipeline=pipeline,
            test_mode=split != 'train',
            **kwargs)

    # ------------------------------------------------------------------
    # To be implemented by a format
    def load_annotations(self) -> List[dict]:
        """Parse the annotation file into image entries.

        Returns:
            list[dict]: each with ``img_path`` (relative to the image
            folder), ``pid`` (int), ``captions`` (list[str]), ``split``
            (str) and optionally ``attributes`` (list of 27 ints),
            ``index`` (record index in its file) and ``ann_file`` (the
            file it came from, when there are several), both used in
            error messages.
        """
        raise NotImplementedError

    # ------------------------------------------------------------------
    def _check_file(self, path: str) -> str:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{type(self).__name__}: annotation file {path!r} not found. '
                'See the README section "Data preparation" for the layout.')
        return path

    def load_data_list(self) -> List[dict]:
        entries = [e for e in self.load_annotations()
                   if e['split'] == self.split]
        if not entries:
            raise AnnotationError(
                f'{type(self).__name__}: no images of split {self.split!r} in '
                f'{self.ann_file!r}.')
        img_root = self.data_prefix.get('img_path', '')
        empty = []

        def captions_of(entry, index):
            kept = []
            where = f'{entry.get("ann_file", self.ann_file)}: record {index}'
            for j, cap in enumerate(entry['captions']):
                if not isinstance(cap, str):
                    raise AnnotationError(
                        f'{type(self).__name__}: {where} '
                        f'({entry["img_path"]}) caption {j} is '
                        f'{type(cap).__name__}, not a string.')
                if cap.strip():
                    kept.append(cap.strip())
                elif self.empty_caption == 'error':
                    raise AnnotationError(
                        f'{type(self).__name__}: {where} '
                        f'({entry["img_path"]}) caption {j} is empty '
                        "(empty_caption='skip' drops such captions).")
                else:
                    empty.append((where, j))
            return kept

        data_list = []
        if self.split == 'train':
            pid_map = {p: i for i, p in enumerate(
                sorted({e['pid'] for e in entries}))}
            for image_id, entry in enumerate(entries):
                for cap in captions_of(entry, entry.get('index', image_id)):
                    data_list.append(self._record(
                        entry, img_root, image_id, modality='pair',
                        caption=cap, pid=pid_map[entry['pid']],
                        raw_pid=entry['pid']))
            self._metainfo['num_ids'] = len(pid_map)
        else:
            queries = []
            for image_id, entry in enumerate(entries):
                data_list.append(self._record(
                    entry, img_root, image_id, modality='image',
                    pid=entry['pid']))
                for cap in captions_of(entry, entry.get('index', image_id)):
                    queries.append(self._record(
                        entry, img_root, image_id, modality='text',
                        caption=cap, pid=entry['pid']))
            self._metainfo['num_gallery'] = len(data_list)
            self._metainfo['num_queries'] = len(queries)
            data_list.extend(queries)
        if empty:
            print_log(
                f'{type(self).__name__}({self.split}): skipped {len(empty)} '
                f'empty caption(s) (first: {empty[0][0]}, caption '
                f'{empty[0][1]}).',
                logger='current', level=logging.WARNING)
        if self.phrase_cfg:
            self._attach_phrases(data_list)
        return data_list

    def _attach_phrases(self, data_list: List[dict]) -> None:
        """Set ``record['phrases']`` for every record with a caption."""
        from .phrases import load_or_build_phrase_cache
        cfg = dict(self.phrase_cfg)
        unknown = set(cfg) - {'cache_file', 'backend'}
        if 'cache_file' not in cfg or unknown:
            raise ValueError('phrase_cfg takes cache_file (required) and '
                             f'backend, got {sorted(self.phrase_cfg)}.')
        cache_file = osp.join(self.data_root or '', cfg['cache_file'])
        captions = [r['caption'] for r in data_list if 'caption' in r]
        phrases = load_or_build_phrase_cache(
            captions, cache_file, backend=cfg.get('backend', 'auto'))
        for record in data_list:
            if 'caption' in record:
                record['phrases'] = list(phrases[record['caption']])

    @staticmethod
    def _record(entry, img_root, image_id, modality, pid, caption=None,
                raw_pid=None) -> dict:
        record = dict(
            img_path=osp.join(img_root, entry['img_path']),
            image_id=image_id,
            pid=int(pid),
            raw_pid=int(entry['pid'] if raw_pid is None else raw_pid),
            modality=modality)
        if entry.get('index') is not None:  # for error messages
            record['ann_index'] = int(entry['index'])
        if modality == 'text':
            # Query records carry no image; keep the path for display only.
            record['gallery_img_path'] = record.pop('img_path')
        if caption is not None:
            record['caption'] = caption
        if entry.get('attributes') is not None:
            record['attributes'] = entry['attributes']
        return record

    def prepare_data(self, idx) -> Optional[dict]:
        reseed_worker(self)  # a new training epoch: this worker's new seed
        info = self.get_data_info(idx)
        if info['modality'] == 'text':
            return self.query_pipeline(info)
        try:
            return self.pipeline(info)
        except Exception as err:
            path = info.get('img_path', '?')
            if not osp.isfile(path):
                problem = 'the file does not exist'
            elif not _decodes(path):
                problem = 'the file is not a readable image'
            else:
                raise  # the image is fine: an error of the pipeline itself
            record = info.get('ann_index', f'#{idx} of the split')
            where = (f'{self.ann_file}, record {record} (pid '
                     f'{info.get("raw_pid", info.get("pid"))}): image '
                     f'{path}: {problem}')
            if self.bad_image == 'skip':
                self.num_bad_images += 1
                print_log(f'Skipping a bad image ({self.num_bad_images} so '
                          f'far in this worker): {where}', logger='current',
                          level=logging.WARNING)
                return None  # mmengine trains on another record instead
            raise AnnotationError(
                f"{where}. Fix or remove it, or set bad_image='skip' on the "
                'training dataset to skip such images.') from err

    def _serialize_data(self):
        # Last moment the plain records exist: keep their pids for samplers.
        self._pids = [record['pid'] for record in self.data_list]
        return super()._serialize_data()

    def get_subset_(self, indices) -> None:
        super().get_subset_(indices)
        self._pids = None

    def get_subset(self, indices) -> 'TextImageDataset':
        subset = super().get_subset(indices)
        subset._pids = None
        return subset

    @property
    def pids(self) -> List[int]:
        """Identity label of every record, in order (for samplers).

        Cached when the records are serialised; read straight from
        ``data_list`` otherwise. A copy is returned.
        """
        if not self._fully_initialized:
            self.full_init()
        if not self.serialize_data:
            return [record['pid'] for record in self.data_list]
        if self._pids is None:  # after get_subset(_) of serialised data
            self._pids = [self.get_data_info(i)['pid']
                          for i in range(len(self))]
        return list(self._pids)

    @property
    def num_ids(self) -> Optional[int]:
        return self._metainfo.get('num_ids')
