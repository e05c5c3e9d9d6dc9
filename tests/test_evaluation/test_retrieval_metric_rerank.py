"""TextToImageRetrievalMetric with a bound reranker (the model's rerank)."""
import random

import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

from tbps.engine import GalleryImageTokens, bind_reranker
from tbps.evaluation.functional import rank_metrics
from tbps.structures import TBPSDataSample

# Stands for the evaluation dataset (only its identity is checked here).
DATASET = object()


def samples_with_tokens(seed=0):
    """4 images (pids 0, 0, 1, 2) and 4 captions with token ids of
    different lengths; sample_idx shuffled."""
    g = torch.Generator().manual_seed(seed)
    out, idx = [], 0
    for pid in (0, 0, 1, 2):
        s = TBPSDataSample(modality='image', sample_idx=idx, pid=pid)
        s.image_feat = torch.randn(8, generator=g)
        out.append(s)
        idx += 1
    for pid, n in ((0, 3), (1, 5), (2, 2), (1, 4)):
        s = TBPSDataSample(modality='text', sample_idx=idx, pid=pid)
        s.text_feat = torch.randn(8, generator=g)
        s.text_input_ids = torch.arange(n) + 10 * idx
        s.text_attention_mask = torch.ones(n, dtype=torch.long)
        out.append(s)
        idx += 1
    random.Random(seed).shuffle(out)
    return out


class RecordingReranker:
    """Returns a fixed score matrix and keeps what it was given."""

    def __init__(self, scores):
        self.scores, self.calls = scores, []

    def rerank(self, similarity, text, image_tokens):
        self.calls.append((similarity.clone(), text, image_tokens))
        return self.scores


def evaluate(samples, model=None):
    init_default_scope('tbps')
    evaluator = Evaluator([dict(type='TextToImageRetrievalMetric')])
    # duplicates, as a distributed sampler pads
    evaluator.process(samples + samples[:2])
    if model is None:
        return evaluator.evaluate(len(samples))
    with bind_reranker(evaluator, model, dataset=DATASET):
        return evaluator.evaluate(len(samples))


def test_reranker_gets_ordered_inputs_and_its_scores_are_ranked():
    samples = samples_with_tokens()
    # the reranked scores put pid 2's image first for every query
    scores = torch.tensor([[0.0, 0.1, 0.2, 0.9]] * 4)
    model = RecordingReranker(scores)
    metrics = evaluate(samples, model)
    assert len(model.calls) == 1
    similarity, text, tokens = model.calls[0]
    by_idx = sorted(samples, key=lambda s: s.sample_idx)
    gal = [s for s in by_idx if s.modality == 'image']
    qry = [s for s in by_idx if s.modality == 'text']
    gfeat = F.normalize(torch.stack([s.image_feat for s in gal]), dim=1)
    qfeat = F.normalize(torch.stack([s.text_feat for s in qry]), dim=1)
    torch.testing.assert_close(similarity, qfeat @ gfeat.t())
    # The gallery is handed over as dataset indices, encoded on demand.
    assert isinstance(tokens, GalleryImageTokens)
    assert tokens.dataset is DATASET and tokens.indices == [0, 1, 2, 3]
    assert len(tokens) == 4
    assert text['input_ids'].shape == (4, 5)
    for row, s in enumerate(qry):
        n = s.text_input_ids.numel()
        assert text['input_ids'][row, :n].tolist() == \
            s.text_input_ids.tolist()
        assert text['attention_mask'][row].tolist() == [1] * n + [0] * (5 - n)
    expected = rank_metrics(scores, torch.tensor([0, 1, 2, 1]),
                            torch.tensor([0, 0, 1, 2]))
    assert metrics == pytest.approx(expected)
    assert metrics['R1'] == 25.0  # only the pid-2 query is right at rank 1


def test_binding_is_undone_and_missing_reranker_raises():
    samples = samples_with_tokens()
    with pytest.raises(RuntimeError, match='RetrievalValLoop'):
        evaluate(samples)
    model = RecordingReranker(torch.zeros(4, 4))
    init_default_scope('tbps')
    evaluator = Evaluator([dict(type='TextToImageRetrievalMetric')])
    with bind_reranker(evaluator, model, dataset=DATASET):
        reranker = evaluator.metrics[0].reranker
        assert callable(reranker)
        reranker(torch.zeros(1, 2), {}, [5, 6])
        assert model.calls[-1][2].indices == [5, 6]
    assert evaluator.metrics[0].reranker is None


def test_samples_without_tokens_rank_by_cosine_even_when_bound():
    samples = samples_with_tokens()
    for s in samples:
        for key in ('text_input_ids', 'text_attention_mask'):
            if key in s:
                delattr(s, key)
    model = RecordingReranker(torch.zeros(4, 4))
    assert evaluate(samples, model) == evaluate(samples)
    assert not model.calls


def test_partial_tokens_raise():
    samples = samples_with_tokens()
    next(s for s in samples if s.modality == 'text').__delattr__(
        'text_input_ids')
    with pytest.raises(ValueError, match='lack re-ranking tokens'):
        evaluate(samples, RecordingReranker(torch.zeros(4, 4)))


def test_model_without_rerank_binds_none():
    init_default_scope('tbps')
    evaluator = Evaluator([dict(type='TextToImageRetrievalMetric')])
    with bind_reranker(evaluator, torch.nn.Linear(2, 2)):
        assert evaluator.metrics[0].reranker is None
