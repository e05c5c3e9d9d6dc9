"""Search a folder of photos by sentence with a tbps model."""
import hashlib
import os
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.utils import ProgressBar

from tbps.evaluation.functional.search import FaissIndex, chunked_topk
from tbps.utils.fileio import torch_save_atomic

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif',
                    '.tiff')
INDEX_VERSION = 1


def find_images(folder: str) -> List[str]:
    """Image files under ``folder`` (recursive), sorted."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'Gallery folder {folder!r} does not exist.')
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        found += [osp.abspath(osp.join(root, f)) for f in sorted(files)
                  if f.lower().endswith(IMAGE_EXTENSIONS)]
    return found


def model_identity(model) -> str:
    """A hash of the model's config and weights: an index built with other
    weights is never reused."""
    digest = hashlib.sha256()
    cfg = getattr(model, 'cfg', None)
    if cfg is not None:
        digest.update(cfg.pretty_text.encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().float().numpy()
                      .tobytes())
    return digest.hexdigest()


def split_gallery(cfg, split: str):
    """(absolute image paths, as the searcher keeps them; their pids; the
    query records) of a config's dataset split."""
    from tbps.registry import DATASETS
    loader = cfg.get(f'{split}_dataloader') or cfg.test_dataloader
    dataset = DATASETS.build(dict(loader.dataset, split=split,
                                  pipeline=[]))
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    images = [r for r in infos if r['modality'] in ('image', 'pair')]
    seen, paths, pids = set(), [], []
    for r in images:
        path = osp.abspath(r['img_path'])
        if path not in seen:
            seen.add(path)
            paths.append(path)
            pids.append(int(r['pid']))
    queries = [r for r in infos if r['modality'] in ('text', 'pair')]
    return paths, pids, queries


class TextPersonSearcher:
    """Rank the photos of a gallery for a sentence.

    Gallery features are computed once through the model's own test
    pipeline, in batches with a progress bar, and saved (features, paths,
    file sizes and modification times, the model's identity) to
    ``index_file``; the next run reuses them and encodes only photos that
    were added or changed. Unreadable images are reported by path and
    skipped. Search is exact top-k in bounded memory
    (:func:`~tbps.evaluation.functional.chunked_topk`) or through a faiss
    index (``faiss='flat'`` exact, ``'ivf'`` approximate). Models that
    re-rank (fusion models: ALBEF, LAIP) re-score each query's top
    ``rerank.k`` candidates with their ITM head, as at evaluation.

    Args:
        model: A tbps retriever (``tbps.apis.init_model`` /
            ``get_model``), with its config as ``model.cfg``.
        gallery: A folder (searched recursively), a list of image paths, or
            a saved index file (``.pth``).
        index_file (str, optional): Where the gallery index is saved and
            reused.
        batch_size (int): Images per encoder pass.
        faiss (str, optional): ``'flat'`` or ``'ivf'`` to search with faiss.
    """

    def __init__(self, model, gallery: Union[str, Sequence[str]],
                 index_file: Optional[str] = None, batch_size: int = 64,
                 faiss: Optional[str] = None):
        self.model = model.eval()
        self.batch_size = int(batch_size)
        self.index_file = index_file
        cfg = getattr(model, 'cfg', None)
        if cfg is None:
            raise ValueError('The model needs its config as model.cfg '
                             '(build it with tbps.apis.init_model).')
        self.pipeline = Compose(cfg.test_dataloader.dataset.pipeline)
        self.identity = model_identity(model)
        self.skipped: List[Tuple[str, str]] = []
        if isinstance(gallery, str) and osp.isfile(gallery):
            self.index_file = self.index_file or gallery
            paths = self._load_index(gallery)['paths']
        elif isinstance(gallery, str):
            paths = find_images(gallery)
        else:
            paths = [osp.abspath(str(p)) for p in gallery]
        self._build(paths)
        self.faiss = FaissIndex(self.features, faiss) if faiss else None

    # -- the gallery index ----------------------------------------------
    @staticmethod
    def _stat(path: str) -> Tuple[int, int]:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns

    def _load_index(self, path: str) -> Dict:
        try:
            index = torch.load(path, map_location='cpu', weights_only=True)
            if index.get('version') != INDEX_VERSION:
                raise ValueError(f"version {index.get('version')}")
            return index
        except Exception as err:  # corrupt, truncated, foreign
            warnings.warn(f'Gallery index {path} is unreadable ({err}); '
                          'rebuilding it.')
            return dict(paths=[], stats=[], features=None, identity=None)

    def _build(self, paths: List[str]) -> None:
        cached = {}
        if self.index_file and osp.isfile(self.index_file):
            index = self._load_index(self.index_file)
            if index.get('identity') == self.identity:
                cached = {p: (tuple(s), f) for p, s, f in zip(
                    index['paths'], index['stats'], index['features'])}
        keep, stats, feats, todo = [], [], {}, []
        for path in paths:
            try:
                stat = self._stat(path)
            except OSError as err:
                self.skipped.append((path, str(err)))
                continue
            keep.append(path)
            stats.append(stat)
            if path in cached and cached[path][0] == stat:
                feats[path] = cached[path][1]
            else:
                todo.append(path)
        encoded = self._encode(todo)
        feats.update(encoded)
        ok = [i for i, p in enumerate(keep) if p in feats]
        self.paths = [keep[i] for i in ok]
        stats = [stats[i] for i in ok]
        dim = next(iter(feats.values())).shape[-1] if feats else 0
        self.features = (torch.stack([feats[p] for p in self.paths])
                         if self.paths else torch.zeros(0, dim))
        for path, reason in self.skipped:
            warnings.warn(f'Skipped unreadable image {path}: {reason}')
        self.num_encoded = len(encoded)
        if cached and not self.paths:
            warnings.warn(f'None of the {len(cached)} indexed photos is '
                          'readable (moved or unmounted?); the index file '
                          'is left as it is.')
        elif self.index_file and (todo or len(cached) != len(self.paths)):
            torch_save_atomic(dict(
                version=INDEX_VERSION, identity=self.identity,
                paths=self.paths, stats=[list(s) for s in stats],
                features=self.features), self.index_file)

    def _load_image(self, path: str):
        return self.pipeline(dict(img_path=path, modality='image', pid=-1,
                                  sample_idx=0))

    @torch.no_grad()
    def _encode(self, paths: List[str]) -> Dict[str, torch.Tensor]:
        out = {}
        bar = ProgressBar(len(paths)) if len(paths) > self.batch_size \
            else None
        for a in range(0, len(paths), self.batch_size):
            items, names = [], []
            for path in paths[a:a + self.batch_size]:
                try:
                    items.append(self._load_image(path))
                    names.append(path)
                except Exception as err:  # unreadable or not an image
                    self.skipped.append((path, f'{type(err).__name__}: '
                                         f'{err}'))
                if bar is not None:
                    bar.update()
            if not items:
                continue
            data = self.model.data_preprocessor(pseudo_collate(items), False)
            feats = self.model.encode_image(data['inputs']['images'])
            for name, feat in zip(names, feats.float().cpu()):
                out[name] = feat
        return out

    # -- search -----------------------------------------------------------
    def _image_tokens(self, indices: Sequence[int]):
        """The candidates' image tokens, encoded a slice at a time when
        re-ranking reads them (as the evaluation loops do)."""
        from tbps.engine.runners.retrieval_loop import GalleryImageTokens
        return GalleryImageTokens(self.model, _PhotoItems(self), indices)

    @torch.no_grad()
    def search(self, text: Union[str, Sequence[str]], topk: int = 10):
        """Ranked ``[(image_path, score)]`` for ``text``; a list of texts
        gives one list per text."""
        single = isinstance(text, str)
        texts = [text] if single else list(text)
        if not self.paths:
            return [] if single else [[] for _ in texts]
        queries = self.model.encode_text(texts).float().cpu()
        rerank_k = 0
        if hasattr(self.model, 'rerank'):
            rerank_k = int(self.model.rerank_cfg.get('k') or 0)
        k = min(max(int(topk), rerank_k), len(self.paths))
        if self.faiss is not None:
            scores, index = self.faiss.search(queries, k)
        else:
            scores, index = chunked_topk(queries, self.features, k)
        results = []
        for row, text_row in enumerate(texts):
            cand = [int(i) for i in index[row] if int(i) >= 0]
            score = scores[row, :len(cand)]
            if rerank_k:
                score = self.model.rerank(
                    score[None].to(queries.device), [text_row],
                    self._image_tokens(cand), k=len(cand))[0].cpu()
                order = torch.argsort(score, descending=True, stable=True)
                cand = [cand[i] for i in order.tolist()]
                score = score[order]
            results.append([(self.paths[i], float(s)) for i, s in
                            zip(cand[:topk], score[:topk].tolist())])
        return results[0] if single else results


class _PhotoItems:
    """The gallery photos as a dataset: item ``i`` is photo ``i`` through
    the model's test pipeline."""

    def __init__(self, searcher: TextPersonSearcher):
        self.searcher = searcher

    def __getitem__(self, index: int):
        return self.searcher._load_image(self.searcher.paths[index])
