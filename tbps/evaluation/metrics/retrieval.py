"""Text-to-image retrieval metric for the mmengine evaluator."""
import time
from typing import (Any, Callable, Dict, List, Optional, Sequence,
                    Tuple, Union)

import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from tbps.evaluation.functional import cross_modal_reciprocal, rank_metrics
from tbps.registry import METRICS

# Query rows per matrix product when building the similarity matrix.
_MATMUL_CHUNK = 4096
# Fields a re-ranking model attaches to queries (see the class docstring).
_RERANK_KEYS = ('text_input_ids', 'text_attention_mask')


@METRICS.register_module()
class TextToImageRetrievalMetric(BaseMetric):
    """R@k, mAP and mINP of ranking gallery images for caption queries.

    The model's ``predict`` mode yields one data sample per gallery image
    (``modality='image'``, ``image_feat`` [D]) and one per query caption
    (``modality='text'``, ``text_feat`` [D]), each with ``pid`` and
    ``sample_idx``. :meth:`compute_metrics` L2-normalises the features,
    scores every query against every image by cosine similarity
    ``s[i, j] = <t_i / |t_i|, v_j / |v_j|>`` and evaluates
    :func:`tbps.evaluation.functional.rank_metrics` (stable ranking, ties to
    the lower gallery ``sample_idx``).

    Gallery and queries are each ordered by ``sample_idx``, so the result
    does not depend on the order in which ranks or batches deliver them;
    repeated ``sample_idx`` (padding added by a distributed sampler) are
    kept once. Queries whose pid has no gallery image are excluded from the
    averages with a warning (see ``rank_metrics``).

    Returned keys, with the default ``prefix=None``: ``'R1'``, ``'R5'``,
    ``'R10'`` (one ``R{k}`` per ``k`` in ``topk``), ``'mAP'`` and ``'mINP'``,
    in percent. Select checkpoints with
    ``default_hooks.checkpoint = dict(type='CheckpointHook',
    save_best='R1', rule='greater')``; mmengine cannot infer the rule for
    ``R1``, so give it. With ``prefix='t2i'`` the keys read ``'t2i/R1'``
    and so on.

    **Re-ranking.** When the model re-ranks (``FusionRetriever`` with
    ``rerank.k > 0``), its ``predict`` also attaches ``text_input_ids`` /
    ``text_attention_mask`` [L] to queries. After building the cosine
    matrix the metric replaces it by ``reranker(similarity,
    dict(input_ids=[Q, L], attention_mask=[Q, L]), gallery_indices)``, the
    gallery's ``sample_idx`` in order, all ordered as above. The reranker is
    bound by :class:`tbps.engine.RetrievalValLoop` / ``RetrievalTestLoop``
    while they run (:func:`tbps.engine.bind_reranker`): the model's
    ``rerank`` with gallery image tokens computed a chunk at a time, so no
    image tokens are kept or gathered. Queries carrying tokens without a
    bound reranker raise. Only the main process computes metrics, so
    re-ranking runs there, on the model's device. Without query tokens the
    ranking is by cosine similarity only.

    **Cross-modal k-reciprocal re-ranking** (TextReID): with
    ``reciprocal=dict(k=5, alpha=0.05)`` the cosine matrix is replaced by
    :func:`tbps.evaluation.functional.cross_modal_reciprocal` of the same
    features, for any method; a model's ITM re-rank, if any, then runs on
    that matrix (its candidates, and the ``'itm+sim'`` score, read it).

    Args:
        topk (int | Sequence[int]): ``k`` of each ``R{k}``.
            Defaults to ``(1, 5, 10)``.
        reciprocal (dict, optional): ``k`` and ``alpha`` of the k-reciprocal
            re-ranking; None (default) ranks by cosine similarity.
        collect_device (str): ``'cpu'`` or ``'gpu'``, the device used to
            gather results across ranks. Defaults to ``'cpu'``.
        prefix (str, optional): prefix of the metric names. Defaults to
            None (plain names).
        collect_dir (str, optional): temporary folder for gathering results
            across ranks with ``collect_device='cpu'``. Defaults to None.
    """
    # '' (not None): plain metric names, and no "prefix is not set" warning
    default_prefix: Optional[str] = ''
    # callable(similarity, text_inputs, image_tokens) -> similarity; bound
    # by the retrieval loops (see the class docstring)
    reranker: Optional[Callable] = None

    def __init__(self,
                 topk: Union[int, Sequence[int]] = (1, 5, 10),
                 reciprocal: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device,
                         prefix=prefix,
                         collect_dir=collect_dir)
        self.topk = (topk, ) if isinstance(topk, int) else tuple(topk)
        if not self.topk or any(
                isinstance(k, bool) or not isinstance(k, int) or k < 1
                for k in self.topk):
            raise ValueError('topk must be a positive int or a non-empty '
                             f'sequence of positive ints, got {topk}')
        if reciprocal is not None:
            unknown = set(reciprocal) - {'k', 'alpha'}
            if unknown:
                raise ValueError(f'reciprocal takes k and alpha, got '
                                 f'unknown keys {sorted(unknown)}')
        self.reciprocal = None if reciprocal is None else dict(reciprocal)

    def process(self, data_batch: Any,
                data_samples: Sequence[Union[dict, BaseDataElement]]) -> None:
        """Keep modality, pid, sample_idx and a CPU copy of the feature of
        every sample of the batch."""
        for sample in data_samples:
            if isinstance(sample, BaseDataElement):
                sample = sample.to_dict()
            modality = sample.get('modality')
            if modality is None:  # infer from the feature it carries
                has_img = sample.get('image_feat') is not None
                has_txt = sample.get('text_feat') is not None
                if has_img == has_txt:
                    raise ValueError(
                        'a data sample without `modality` must carry exactly '
                        'one of `image_feat` and `text_feat`')
                modality = 'image' if has_img else 'text'
            if modality not in ('image', 'text'):
                raise ValueError(
                    f"TextToImageRetrievalMetric expects modality 'image' "
                    f"(gallery) or 'text' (query), got {modality!r}")
            key = 'image_feat' if modality == 'image' else 'text_feat'
            feat = sample.get(key)
            if feat is None:
                raise KeyError(f"a data sample with modality {modality!r} "
                               f'has no `{key}`')
            if sample.get('pid') is None:
                raise KeyError('a data sample has no `pid`')
            feat = torch.as_tensor(feat).detach().to('cpu', copy=True)
            if feat.ndim != 1:
                raise ValueError(f'`{key}` must be a [D] tensor, got shape '
                                 f'{tuple(feat.shape)}')
            idx = sample.get('sample_idx')
            result = dict(modality=modality,
                          pid=int(sample['pid']),
                          sample_idx=None if idx is None else int(idx),
                          feat=feat)
            for key in (_RERANK_KEYS if modality == 'text' else ()):
                if sample.get(key) is not None:
                    result[key] = torch.as_tensor(sample[key]).detach().to(
                        'cpu', copy=True)
            self.results.append(result)

    @staticmethod
    def _stack(results: List[dict]
               ) -> Tuple[torch.Tensor, torch.Tensor, List[int]]:
        """Features [N, D] (float, L2-normalised), pids [N] and the
        positions in ``results`` they come from, ordered by sample_idx with
        repeated indices dropped."""
        if all(r['sample_idx'] is not None for r in results):
            idx = torch.tensor([r['sample_idx'] for r in results])
            order = torch.argsort(idx, stable=True)
            sorted_idx = idx[order]
            first = torch.ones_like(sorted_idx, dtype=torch.bool)
            first[1:] = sorted_idx[1:] != sorted_idx[:-1]
            keep = order[first].tolist()
        else:  # no sample_idx: arrival order, nothing to deduplicate
            keep = list(range(len(results)))
        feats = torch.stack([results[i]['feat'] for i in keep]).float()
        pids = torch.tensor([results[i]['pid'] for i in keep],
                            dtype=torch.long)
        return F.normalize(feats, dim=1), pids, keep

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Rank metrics of the gathered results, see the class docstring."""
        gallery = [r for r in results if r['modality'] == 'image']
        queries = [r for r in results if r['modality'] == 'text']
        if not gallery or not queries:
            raise ValueError(
                'TextToImageRetrievalMetric needs gallery images and query '
                f'captions, got {len(gallery)} image and {len(queries)} text '
                'samples; check that the evaluation dataset yields both '
                "modalities ('image' and 'text')")
        gallery_feats, gallery_pids, gallery_keep = self._stack(gallery)
        query_feats, query_pids, query_keep = self._stack(queries)
        if gallery_feats.shape[1] != query_feats.shape[1]:
            raise ValueError(
                f'image features have dimension {gallery_feats.shape[1]} but '
                f'text features {query_feats.shape[1]}')
        if self.reciprocal is not None:
            similarity = cross_modal_reciprocal(query_feats, gallery_feats,
                                                **self.reciprocal)
        else:
            similarity = self._cosine(query_feats, gallery_feats)
        rerank_inputs = self._rerank_inputs([gallery[i] for i in gallery_keep],
                                            [queries[i] for i in query_keep])
        if rerank_inputs is not None:
            start = time.perf_counter()
            similarity = self.reranker(similarity, *rerank_inputs)
            print_log(
                f'Re-ranked the top candidates of {similarity.shape[0]} '
                f'queries among {similarity.shape[1]} gallery images in '
                f'{time.perf_counter() - start:.1f} s', logger='current')
        return rank_metrics(similarity,
                            query_pids,
                            gallery_pids,
                            topk=self.topk)

    @staticmethod
    def _cosine(query_feats: torch.Tensor,
                gallery_feats: torch.Tensor) -> torch.Tensor:
        similarity = torch.empty(query_feats.shape[0],
                                 gallery_feats.shape[0],
                                 dtype=torch.float32)
        gallery_t = gallery_feats.t()
        for a in range(0, query_feats.shape[0], _MATMUL_CHUNK):
            torch.mm(query_feats[a:a + _MATMUL_CHUNK],
                     gallery_t,
                     out=similarity[a:a + _MATMUL_CHUNK])
        return similarity

    def _rerank_inputs(self, gallery: List[dict], queries: List[dict]):
        """``(text_inputs, gallery_indices)`` for :attr:`reranker` when the
        queries carry tokens, else None."""
        has = [all(k in r for k in _RERANK_KEYS) for r in queries]
        if not any(has):
            return None
        if not all(has):
            raise ValueError(
                f'{has.count(False)} of {len(has)} queries lack re-ranking '
                f'tokens {_RERANK_KEYS} that the others carry')
        if self.reranker is None:
            raise RuntimeError(
                'The queries carry re-ranking tokens (the model re-ranks, '
                'e.g. FusionRetriever with rerank.k > 0) but no reranker is '
                "bound to TextToImageRetrievalMetric: use val_cfg = "
                "dict(type='RetrievalValLoop') and test_cfg = "
                "dict(type='RetrievalTestLoop'), or set model.rerank.k=0 "
                'for cosine ranking.')
        if any(r['sample_idx'] is None for r in gallery):
            raise ValueError('Re-ranking needs the sample_idx of every '
                             'gallery image (to encode it again).')
        length = max(r['text_input_ids'].numel() for r in queries)
        ids = torch.zeros(len(queries), length, dtype=torch.long)
        mask = torch.zeros(len(queries), length, dtype=torch.long)
        for row, r in enumerate(queries):
            n = r['text_input_ids'].numel()
            ids[row, :n] = r['text_input_ids']
            mask[row, :n] = r['text_attention_mask']
        text = dict(input_ids=ids, attention_mask=mask)
        return text, [r['sample_idx'] for r in gallery]
