import random

import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

from tbps.evaluation.functional import rank_metrics
from tbps.evaluation.metrics import TextToImageRetrievalMetric
from tbps.registry import METRICS
from tbps.structures import TBPSDataSample


def make_samples(num_ids=8, imgs_per_id=3, caps_per_img=2, dim=16, seed=0):
    """Gallery images then query captions, sample_idx over both, features
    with an identity signal so the metrics are not trivial."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(num_ids, dim, generator=g)
    samples, idx = [], 0
    gallery, queries = [], []
    for pid in range(num_ids):
        for _ in range(imgs_per_id):
            feat = centers[pid] + torch.randn(dim, generator=g)
            s = TBPSDataSample(modality='image', sample_idx=idx)
            s.set_pid(pid)
            s.image_feat = feat * 3.0  # not normalised
            gallery.append((idx, pid, feat))
            samples.append(s)
            idx += 1
    for img_idx, pid, _ in list(gallery):
        for _ in range(caps_per_img):
            feat = centers[pid] + 1.5 * torch.randn(dim, generator=g)
            s = TBPSDataSample(modality='text', sample_idx=idx)
            s.set_pid(pid)
            s.text_feat = feat
            queries.append((idx, pid, feat))
            samples.append(s)
            idx += 1
    return samples, gallery, queries


def direct(gallery, queries, topk=(1, 5, 10)):
    gfeat = F.normalize(torch.stack([f for _, _, f in gallery]), dim=1)
    qfeat = F.normalize(torch.stack([f for _, _, f in queries]), dim=1)
    gp = torch.tensor([p for _, p, _ in gallery])
    qp = torch.tensor([p for _, p, _ in queries])
    return rank_metrics(qfeat @ gfeat.t(), qp, gp, topk=topk)


def run_evaluator(samples, size, metric_cfg=None, batch_size=5):
    init_default_scope('tbps')
    evaluator = Evaluator(
        [metric_cfg or dict(type='TextToImageRetrievalMetric')])
    for a in range(0, len(samples), batch_size):
        evaluator.process(samples[a:a + batch_size])
    return evaluator.evaluate(size)


def assert_close(got, expected):
    assert list(got) == list(expected)
    for k in expected:
        assert got[k] == pytest.approx(expected[k], abs=1e-9), k


def test_evaluator_shuffled_with_duplicates():
    samples, gallery, queries = make_samples()
    expected = direct(gallery, queries)
    shuffled = samples + random.Random(0).sample(samples, 7)  # duplicates
    random.Random(1).shuffle(shuffled)
    # size = all results: the metric itself must drop the duplicates
    got = run_evaluator(shuffled, size=len(shuffled))
    assert list(got) == ['R1', 'R5', 'R10', 'mAP', 'mINP']
    assert_close(got, expected)
    assert 0 < got['mAP'] < 100
    # the order of arrival does not matter
    random.Random(2).shuffle(shuffled)
    assert run_evaluator(shuffled, size=len(shuffled)) == got


def test_dict_samples_and_topk():
    samples, gallery, queries = make_samples(seed=1)
    dicts = [s.to_dict() for s in samples]
    metric = TextToImageRetrievalMetric(topk=(1, 3))
    metric.process(None, dicts[::2])
    metric.process(None, samples[1::2])  # data elements are accepted too
    got = metric.evaluate(len(samples))
    assert_close(got, direct(gallery, queries, topk=(1, 3)))


def test_build_from_registry_and_prefix():
    init_default_scope('tbps')
    metric = METRICS.build(dict(type='TextToImageRetrievalMetric'))
    assert isinstance(metric, TextToImageRetrievalMetric)
    assert metric.topk == (1, 5, 10)
    samples, gallery, queries = make_samples(seed=2)
    metric.process(None, [s.to_dict() for s in samples])
    assert_close(metric.evaluate(len(samples)), direct(gallery, queries))
    assert metric.results == []  # reset after evaluate

    samples, gallery, queries = make_samples(seed=3)
    got = run_evaluator(
        samples, len(samples),
        dict(type='TextToImageRetrievalMetric', prefix='t2i', topk=1))
    assert list(got) == ['t2i/R1', 't2i/mAP', 't2i/mINP']


def test_missing_modality_errors():
    samples, _, _ = make_samples(seed=4)
    images = [s for s in samples if s.modality == 'image']
    texts = [s for s in samples if s.modality == 'text']
    for subset, what in ((images, '0 text'), (texts, '0 image')):
        metric = TextToImageRetrievalMetric()
        metric.process(None, [s.to_dict() for s in subset])
        with pytest.raises(ValueError, match=what):
            metric.compute_metrics(metric.results)


def test_bad_samples():
    metric = TextToImageRetrievalMetric()
    s = TBPSDataSample(modality='pair', sample_idx=0)
    s.set_pid(0)
    with pytest.raises(ValueError, match='modality'):
        metric.process(None, [s.to_dict()])
    s = TBPSDataSample(modality='image', sample_idx=0)
    s.set_pid(0)
    with pytest.raises(KeyError, match='image_feat'):
        metric.process(None, [s.to_dict()])
    with pytest.raises(ValueError, match='topk'):
        TextToImageRetrievalMetric(topk=(0, 1))


def test_queries_without_gallery_identity_warn():
    samples, gallery, queries = make_samples(seed=5)
    extra = TBPSDataSample(modality='text', sample_idx=10_000)
    extra.set_pid(999)
    extra.text_feat = torch.randn(16)
    with pytest.warns(UserWarning, match='1 of 49 queries'):
        got = run_evaluator(samples + [extra], len(samples) + 1)
    assert_close(got, direct(gallery, queries))
