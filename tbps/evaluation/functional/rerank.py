"""Top-k re-ranking by the cross-modal fusion encoder and the ITM head
(ALBEF / LAIP / APTM inference).

Every query keeps its ``k`` best gallery images by coarse (cosine)
similarity; each such (query, image) pair is re-scored by the fusion encoder
and the ITM head. ALBEF's ``evaluation()`` runs one fusion pass per query
over its k candidates. Here no work is repeated:

* a gallery image is a candidate of about ``Q * k / G`` queries (~256 at
  CUHK-PEDES test size): the pairs are grouped by gallery image, the gallery
  is walked in chunks of ``image_chunk`` images, and each image's
  cross-attention keys/values are computed once per fusion layer
  (:meth:`BertFusionEncoder.image_key_values`); the captions paired with an
  image attend to them together (``kv_index``), ``batch_size`` pairs per
  pass, pairs of similar caption length batched together (little padding);
* layer 0's self-attention sees the caption only: computed once per query
  (:meth:`BertFusionEncoder.text_prefix`);
* the ITM head reads the fused [CLS] token only: the last layer computes
  that row alone (:meth:`BertFusionEncoder.fused_cls_from_prefix`).

Device memory holds the text states of all queries (3 x [Q, L, C]) and one
chunk's keys/values, never the whole gallery's (3074 images x 193 tokens x
768 x 6 layers x 2 would be ~22 GB).
"""
from typing import Callable, Sequence, Tuple, Union

import torch
from mmengine.utils import ProgressBar

ImageTokens = Union[torch.Tensor, Sequence[torch.Tensor]]
SCORES = ('itm', 'itm+sim')
# How a pair's two ITM logits [no match, match] become its score: the
# match logit (ALBEF), the logit difference, or the match probability
# softmax(l)[1] = sigmoid(l1 - l0) (ranks as the difference). The 2-way
# cross-entropy only trains l1 - l0, so the match logit alone also carries
# a direction training never constrains.
PAIR_SCORES = dict(
    logit=lambda logits: logits[:, 1],
    diff=lambda logits: logits[:, 1] - logits[:, 0],
    prob=lambda logits: logits.softmax(dim=-1)[:, 1])
# ``FusionRetriever(rerank=...)`` keys; see that class.
RERANK_DEFAULTS = dict(k=128, batch_size=256, image_chunk=16, score='itm',
                       fill=-100.0, sim_weight=0.002, head='itm',
                       pair_score='logit')


def check_rerank_cfg(cfg: dict) -> None:
    """Raise on unknown keys or values a re-rank cannot run with."""
    unknown = set(cfg) - set(RERANK_DEFAULTS)
    if unknown:
        raise ValueError(f'Unknown rerank keys {sorted(unknown)}; expected '
                         f'a subset of {sorted(RERANK_DEFAULTS)}.')
    if cfg['score'] not in SCORES:
        raise ValueError(f"rerank score must be one of {SCORES}, got "
                         f"{cfg['score']!r}")
    if cfg['pair_score'] not in PAIR_SCORES:
        raise ValueError(f'rerank pair_score must be one of '
                         f"{tuple(PAIR_SCORES)}, got {cfg['pair_score']!r}")
    if cfg['k'] is None or int(cfg['k']) < 0:
        raise ValueError(f"rerank k must be >= 0 (0 = off), got {cfg['k']}")
    for key in ('batch_size', 'image_chunk'):
        if int(cfg[key]) < 1:
            raise ValueError(f'rerank {key} must be positive, got '
                             f'{cfg[key]}')


def topk_candidates(similarity: torch.Tensor,
                    k: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Each row's ``min(k, G)`` highest scores and their gallery indices,
    both [Q, min(k, G)], best first."""
    k = min(int(k), similarity.shape[1])
    return similarity.topk(k, dim=1)


def _stack(image_tokens: ImageTokens, start: int, end: int, device,
           dtype) -> torch.Tensor:
    chunk = image_tokens[start:end]
    if not isinstance(chunk, torch.Tensor):  # a list of [N, C] tensors
        chunk = torch.stack(list(chunk))
    # (tokens kept from an fp16 evaluation meet fp32 text states here)
    return chunk.to(device, dtype)


@torch.no_grad()
def itm_logits_of_candidates(fusion_encoder, itm_head,
                             text_tokens: torch.Tensor,
                             text_mask: torch.Tensor,
                             image_tokens: ImageTokens,
                             candidates: torch.Tensor,
                             batch_size: int = 256,
                             image_chunk: int = 16,
                             progress: bool = False,
                             pair_score: str = 'logit') -> torch.Tensor:
    """ITM score of every (query, candidate image) pair.

    Args:
        fusion_encoder: A :class:`BertFusionEncoder`.
        itm_head: Maps the fused [CLS] [B, C] to match logits [B, 2].
        text_tokens: [Q, L, C] text encoder outputs of the queries, on the
            model's device.
        text_mask: [Q, L] 1 for real tokens (padding at the end).
        image_tokens: [G, N, Cv] image encoder tokens of the gallery, or a
            sequence of G [N, Cv] tensors; any device (moved one chunk at a
            time).
        candidates: [Q, K] gallery indices to score per query.
        batch_size (int): (query, image) pairs per fusion pass.
        image_chunk (int): Gallery images whose keys/values are held at once.
        progress (bool): Show a progress bar over the gallery chunks.
        pair_score (str): A :data:`PAIR_SCORES` key: ``'logit'`` (ALBEF's
            ``itm_head(fused_cls)[:, 1]``), ``'diff'`` or ``'prob'``.

    Returns:
        Tensor: [Q, K] scores (float32, on the text tokens' device).
    """
    to_score = PAIR_SCORES[pair_score]
    if batch_size < 1 or image_chunk < 1:
        raise ValueError('batch_size and image_chunk must be positive, got '
                         f'{batch_size} and {image_chunk}')
    device = text_tokens.device
    # Layer 0's self-attention sees the caption only: once per query.
    prefix = [torch.cat(parts) for parts in zip(*(
        fusion_encoder.text_prefix(text_tokens[a:a + batch_size],
                                   text_mask[a:a + batch_size])
        for a in range(0, text_tokens.shape[0], batch_size)))]
    num_queries, k = candidates.shape
    num_images = len(image_tokens)
    candidates = candidates.to(device)
    flat_image = candidates.reshape(-1)
    flat_query = torch.arange(num_queries, device=device).repeat_interleave(k)
    lengths = text_mask.sum(1)
    # Group the pairs by image chunk; inside a chunk, by caption length so
    # that a batch pads little (the chunk's keys/values serve any order).
    chunk_of = torch.div(flat_image, image_chunk, rounding_mode='floor')
    key = chunk_of * (text_mask.shape[1] + 1) + lengths[flat_query]
    order = torch.argsort(key, stable=True)
    flat_image, flat_query = flat_image[order], flat_query[order]
    bounds = torch.searchsorted(
        chunk_of[order],
        torch.arange(0, (num_images + image_chunk - 1) // image_chunk + 1,
                     device=device)).tolist()
    logits = torch.empty(num_queries * k, device=device, dtype=torch.float32)
    starts = range(0, num_images, image_chunk)
    bar = ProgressBar(len(starts)) if progress else None
    for c, start in enumerate(starts):
        if bar is not None:
            bar.update()
        lo, hi = bounds[c], bounds[c + 1]
        if lo == hi:  # no query has an image of this chunk in its top-k
            continue
        images = _stack(image_tokens, start, start + image_chunk, device,
                        text_tokens.dtype)
        image_kv = fusion_encoder.image_key_values(images)
        for a in range(lo, hi, batch_size):
            b = min(a + batch_size, hi)
            query = flat_query[a:b]
            length = int(lengths[query].max())
            fused = fusion_encoder.fused_cls_from_prefix(
                (prefix[0][query, :length], prefix[1][query, :length]),
                text_mask[query, :length], image_kv,
                kv_index=flat_image[a:b] - start)
            logits[order[a:b]] = to_score(itm_head(fused).float())
        del image_kv
    return logits.view(num_queries, k)


def combine_scores(similarity: torch.Tensor, candidates: torch.Tensor,
                   itm_logits: torch.Tensor, score: str = 'itm',
                   fill: float = -100.0,
                   sim_weight: float = 0.002) -> torch.Tensor:
    """Final [Q, G] scores from the coarse similarity and the ITM logits
    of each query's candidates.

    * ``'itm'`` (ALBEF, LAIP): candidates get their ITM positive logit,
      every other image ``fill``.
    * ``'itm+sim'`` (APTM): ``minmax(M) + sim_weight * minmax(S)`` where
      ``S`` is the coarse similarity, ``M`` holds the candidates' ITM logits
      and, elsewhere, the row's lowest candidate logit, and ``minmax(X) =
      (X - min X) / (max X - min X)`` over the whole matrix. Non-candidates
      thus follow the candidates, ordered by similarity.
    """
    candidates = candidates.to(similarity.device)
    itm_logits = itm_logits.to(similarity.device, torch.float32)
    if score == 'itm':
        out = torch.full(similarity.shape, float(fill), dtype=torch.float32,
                         device=similarity.device)
        return out.scatter_(1, candidates, itm_logits)
    if score == 'itm+sim':
        row_min = itm_logits.min(dim=1, keepdim=True).values
        itm = row_min.expand(similarity.shape).clone().scatter_(
            1, candidates, itm_logits)
        return _minmax(itm) + sim_weight * _minmax(similarity.float())
    raise ValueError(f'rerank score must be one of {SCORES}, got {score!r}')


def _minmax(x: torch.Tensor) -> torch.Tensor:
    low, high = x.min(), x.max()
    return (x - low) / (high - low).clamp_min(torch.finfo(x.dtype).tiny)


@torch.no_grad()
def rerank_similarity(similarity: torch.Tensor, text_tokens: torch.Tensor,
                      text_mask: torch.Tensor, image_tokens: ImageTokens,
                      fusion_encoder, itm_head: Callable, k: int = 128,
                      batch_size: int = 256, image_chunk: int = 16,
                      score: str = 'itm', fill: float = -100.0,
                      sim_weight: float = 0.002,
                      progress: bool = False,
                      pair_score: str = 'logit') -> torch.Tensor:
    """Coarse [Q, G] similarity -> re-ranked [Q, G] scores (see
    :func:`itm_logits_of_candidates` and :func:`combine_scores`)."""
    if similarity.ndim != 2 or similarity.shape[0] != text_tokens.shape[0] \
            or similarity.shape[1] != len(image_tokens):
        raise ValueError(
            f'similarity {tuple(similarity.shape)} must be [Q, G] for '
            f'{text_tokens.shape[0]} queries and {len(image_tokens)} '
            'gallery images')
    if k < 1:
        raise ValueError(f'rerank k must be positive, got {k}')
    _, candidates = topk_candidates(similarity, k)
    logits = itm_logits_of_candidates(
        fusion_encoder, itm_head, text_tokens, text_mask, image_tokens,
        candidates, batch_size=batch_size, image_chunk=image_chunk,
        progress=progress, pair_score=pair_score)
    return combine_scores(similarity, candidates, logits, score=score,
                          fill=fill, sim_weight=sim_weight)
