"""APTM's heads: attribute prompts (ITC / ITM / MLM over the 54 sentences)
and the caption-view head (ITC and ITM again on the EDA caption)."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config

from tbps.datasets.synth import MALS_ATTRIBUTES
from tbps.models.heads import APTM_ATTRIBUTE_PROMPTS, FusionBatch
from tbps.models.heads.attribute_prompt_head import (mean_per_group,
                                                     sentence_targets)
from tbps.registry import MODELS
from tbps.structures import TBPSDataSample

CAPTION = 'the man has long hair. he wears a purple jacket and gray shoes.'
VIEW = 'the guy has long hair. he wears a purple coat and grey shoes.'


def tiny_aptm(config='configs/aptm/aptm_synth.py', **overrides):
    cfg = Config.fromfile(config)
    model = cfg.model
    model.image_encoder.arch.update(embed_dims=16, depths=[1, 1, 1],
                                    num_heads=[1, 2, 2])
    for enc in (model.text_encoder, model.fusion_encoder):
        enc.config.update(hidden_size=32, intermediate_size=64,
                          num_attention_heads=2)
        enc.num_layers = 1
    model.heads.itm.hidden_dim = 16
    model.embed_dim = 16
    cfg.merge_from_dict({f'model.{k}': v for k, v in overrides.items()})
    return MODELS.build(cfg.model)


def with_attr(model_cfg_overrides=None, **head):
    heads = dict(attr=dict(type='AttributePromptHead', **head))
    return tiny_aptm(**{'heads.attr': heads['attr'],
                        **(model_cfg_overrides or {})})


def batch_of(model, labels, pids=None, view=True):
    n = len(labels)
    pids = pids if pids is not None else list(range(n))
    imgs = [torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8)
            for _ in range(n)]
    samples = []
    for i in range(n):
        s = TBPSDataSample(metainfo=dict(caption=CAPTION, pid=pids[i],
                                         modality='pair'))
        if view:
            s.set_metainfo(dict(caption_eda=VIEW))
        s.set_attributes(labels[i])
        samples.append(s)
    data = model.data_preprocessor(dict(inputs=imgs, data_samples=samples),
                                   True)
    return data['inputs'], data['data_samples']


def random_labels(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-1, 2, (n, len(MALS_ATTRIBUTES)), generator=g)


def test_prompts_are_the_authors_pairs():
    p = APTM_ATTRIBUTE_PROMPTS
    assert len(p) == 2 * len(MALS_ATTRIBUTES) == 54
    assert p[:2] == ('the person is a woman', 'the person is a man')
    assert p[6:8] == ('the person with a hat', 'the person without a hat')
    assert p[20:22] == ('the person wears black upper clothes',
                        'the person does not wear black upper clothes')
    assert p[-2:] == ('the person wears brown lower clothes',
                      'the person does not wear brown lower clothes')
    # the label convention of the data: 'hat' label 0 = with a hat
    assert MALS_ATTRIBUTES[3] == 'hat'


def test_sentence_targets_and_group_means():
    labels = torch.tensor([[0, 1], [1, -1]])
    assert sentence_targets(labels).tolist() == [[1, 0, 0, 1],
                                                 [0, 1, -1, -1]]
    losses = torch.tensor([[1.0, 4.0], [3.0, 8.0]])
    valid = torch.tensor([[True, False], [True, False]])
    # group 0: mean 2; group 1: no valid row -> 0; / 2 groups
    assert mean_per_group(losses, valid).item() == pytest.approx(1.0)


def test_attribute_itc_matches_the_authors_formula():
    model = with_attr(losses=('itc', ))
    model.eval()  # no dropout: the reference re-encodes the prompts
    inputs, samples = batch_of(model, random_labels(6))
    batch = FusionBatch(model, inputs, samples)
    head = model.heads['attr']
    got = head.loss(batch)['loss_attr_itc']
    # APTM: sum over attributes of F.cross_entropy(logits[:, 2i:2i+2],
    # label[:, i], ignore_index=-1), divided by 27
    prompts = batch.text_features(dict(input_ids=head.prompt_ids,
                                       attention_mask=head.prompt_mask))
    logits = batch.image_embed @ F.normalize(prompts['global'], dim=-1).t() \
        / model.heads['itc'].temperature
    labels = head.labels(batch)
    want = sum(F.cross_entropy(logits[:, 2 * i:2 * i + 2], labels[:, i],
                               ignore_index=-1)
               for i in range(27)) / 27
    assert torch.allclose(got, want, atol=1e-6)


def test_attribute_losses_backpropagate_and_are_logged_by_name():
    model = with_attr(label_smoothing=0.4,
                      model_cfg_overrides={'loss_weights.attr': 0.8 / 3})
    model.train()
    inputs, samples = batch_of(model, random_labels(4), pids=[0, 0, 1, 1])
    losses = model.loss(inputs, samples)
    for key in ('loss_attr_itc', 'loss_attr_itm', 'loss_attr_mlm',
                'loss_itc', 'loss_itm', 'loss_mlm', 'loss_itc_eda',
                'loss_itm_eda'):
        assert key in losses and torch.isfinite(losses[key]), key
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert model.heads['itm'].fc[0].weight.grad.abs().sum() > 0
    assert model.heads['mlm'].predictor.transform.dense.weight.grad.abs(
    ).sum() > 0


def test_attribute_itm_targets_and_unknown_labels(monkeypatch):
    """ITM targets: sentence 2i is true when v = 0, 2i+1 when v = 1;
    unknown labels (-1) add nothing."""
    model = with_attr(losses=('itm', ), itm_sentences=2)
    model.eval()
    labels = torch.zeros(3, 27, dtype=torch.long)
    labels[:, 3] = torch.tensor([0, 1, -1])  # hat: with / without / unknown
    inputs, samples = batch_of(model, labels)
    batch = FusionBatch(model, inputs, samples)
    seen = {}
    itm = model.heads['itm']
    original = itm.forward

    def spy(fused):
        out = original(fused)
        seen['logits'] = out
        return out

    monkeypatch.setattr(itm, 'forward', spy)
    monkeypatch.setattr(torch, 'randperm',
                        lambda n, **kw: torch.tensor([6, 7] + list(
                            range(8, n))))
    loss = model.heads['attr'].loss(batch)['loss_attr_itm']
    logits = seen['logits'].view(2, 3, 2)  # [sentence, image, 2]
    # 'with a hat' is true of image 0, 'without' of image 1; image 2 unknown
    want = (F.cross_entropy(logits[0, :2], torch.tensor([1, 0])) +
            F.cross_entropy(logits[1, :2], torch.tensor([0, 1]))) / 2
    assert torch.allclose(loss, want, atol=1e-6)


def test_attribute_mlm_pairs_each_sentence_with_an_image_it_is_true_of(
        monkeypatch):
    model = with_attr(losses=('mlm', ))
    model.train()
    labels = torch.full((2, 27), -1, dtype=torch.long)
    labels[0, 0] = 0  # image 0: a woman
    labels[1, 0] = 1  # image 1: a man
    labels[1, 3] = 0  # image 1: with a hat
    inputs, samples = batch_of(model, labels)
    batch = FusionBatch(model, inputs, samples)
    calls = []
    original = batch.fuse

    def spy(tokens, mask, image_tokens, **kw):
        calls.append(image_tokens)
        return original(tokens, mask, image_tokens, **kw)

    monkeypatch.setattr(batch, 'fuse', spy)
    model.heads['attr'].loss(batch)
    image_tokens = batch.image_feat['tokens']
    (fused_images, ) = calls
    # sentences 0 (woman), 1 (man), 6 (with a hat): true of 0, 1, 1
    assert len(fused_images) == 3
    for got, want in zip(fused_images, [0, 1, 1]):
        assert torch.equal(got, image_tokens[want])


def test_attribute_head_errors():
    model = with_attr()
    inputs, samples = batch_of(model, random_labels(2))
    for s in samples:
        del s.attributes
    with pytest.raises(KeyError, match='no attributes'):
        model.loss(inputs, samples)
    with pytest.raises(ValueError, match='pairs'):
        with_attr(prompts=['a', 'b', 'c'])
    with pytest.raises(ValueError, match='subset'):
        with_attr(losses=('itc', 'nope'))


def test_caption_view_runs_the_heads_on_the_second_caption(monkeypatch):
    model = tiny_aptm()
    model.eval()  # no dropout: the reference re-encodes the view
    inputs, samples = batch_of(model, random_labels(4), pids=[0, 0, 1, 1])
    batch = FusionBatch(model, inputs, samples)
    out = model.heads['eda'].loss(batch)
    assert set(out) == {'loss_itc_eda', 'loss_itm_eda'}
    # the view's ITC equals the ITC head on the re-encoded view captions
    view_text = model.heads['eda'].view_text(batch)
    assert not torch.equal(view_text['input_ids'][0][:5],
                           batch.text['input_ids'][0][:5])
    feats = model.extract_text_feat(view_text)
    want = model.heads['itc'].loss_module(
        batch.image_embed, F.normalize(feats['global'], dim=-1), batch.pids)
    assert torch.allclose(out['loss_itc_eda'], want, atol=1e-6)
    # and differs from the caption's own ITC
    assert not torch.allclose(out['loss_itc_eda'],
                              model.heads['itc'].loss(batch)['loss_itc'])


def test_caption_view_needs_the_field_and_refuses_momentum_heads(tiny_cfg):
    model = tiny_aptm()
    inputs, samples = batch_of(model, random_labels(2), view=False)
    with pytest.raises(KeyError, match='caption_eda.*EDACaption'):
        model.loss(inputs, samples)
    albef = MODELS.build(tiny_cfg('configs/albef/albef_synth.py', **{
        'heads.eda': dict(type='CaptionViewHead', heads=('itc', ))}))
    inputs, samples = batch_of(albef, random_labels(2))
    with pytest.raises(TypeError, match='momentum'):
        albef.loss(inputs, samples)
