"""FusionRetriever (ALBEF / LAIP) on a tiny configuration."""
import pytest
import torch

from tbps.models.heads import hard_negatives
from tbps.registry import MODELS
from tbps.structures import TBPSDataSample

CAPTION = 'the man has long hair. he wears a purple jacket and gray shoes.'
PHRASES = ['long hair', 'a purple jacket', 'gray shoes']


def batch(model, n=4, pids=None):
    pids = pids if pids is not None else [i // 2 for i in range(n)]
    imgs = [torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8)
            for _ in range(n)]
    samples = [TBPSDataSample(metainfo=dict(
        caption=CAPTION, phrases=PHRASES, pid=p, modality='pair'))
        for p in pids]
    return model.data_preprocessor(dict(inputs=imgs, data_samples=samples),
                                   True)


def test_laip_losses_and_gradients(tiny_cfg):
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg())
    losses = model(**batch(model), mode='loss')
    assert set(losses) == {'loss_itc', 'loss_itm', 'loss_triplet',
                           'loss_mpm', 'loss_local'}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    for name in ('image_encoder', 'text_encoder', 'fusion_encoder',
                 'heads.mlm', 'heads.local', 'heads.itm'):
        grads = [p.grad for p in model.get_submodule(name).parameters()
                 if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads), name
    # The momentum model is never trained by the optimizer.
    assert all(not p.requires_grad for p in model.momentum.parameters())


def test_zero_weight_skips_branch_and_albef_has_no_local_branch(tiny_cfg):
    model = MODELS.build(tiny_cfg())
    model.loss_weights.update(triplet=0.0, mlm=0.0, local=0.0)
    assert set(model(**batch(model), mode='loss')) == {'loss_itc', 'loss_itm'}
    albef = MODELS.build(tiny_cfg('configs/albef/albef_synth.py'))
    assert set(albef(**batch(albef), mode='loss')) == {'loss_itc', 'loss_itm'}
    assert list(albef.heads) == ['itc', 'itm']


def test_batch_of_two_with_one_identity_has_no_negatives(tiny_cfg):
    model = MODELS.build(tiny_cfg())
    losses = model(**batch(model, n=2, pids=[7, 7]), mode='loss')
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_triplet'].item() == 0.0


def test_hard_negatives_never_share_the_identity():
    torch.manual_seed(1)
    pids = torch.tensor([0, 0, 1, 1, 2, 2])
    feats = torch.nn.functional.normalize(torch.randn(6, 16), dim=-1)
    for _ in range(20):
        neg = hard_negatives(feats, feats, pids, 0.07)
        assert neg['text_valid'].all() and neg['image_valid'].all()
        assert (pids[neg['image_for_text']] != pids).all()
        assert (pids[neg['text_for_image']] != pids).all()
    neg = hard_negatives(feats[:2], feats[:2], torch.tensor([4, 4]), 0.07)
    assert not neg['text_valid'].any() and not neg['image_valid'].any()


def test_hard_negatives_follow_the_similarity():
    """At a low temperature the draw picks the most similar other-identity
    caption."""
    feats = torch.eye(4)
    texts = torch.nn.functional.normalize(
        torch.tensor([[1., 0, 0, 0], [0.9, 0.1, 0, 0], [0, 0, 1, 0],
                      [0, 0, 0.9, 0.1]]), dim=-1)
    pids = torch.tensor([0, 1, 2, 3])
    neg = hard_negatives(feats, texts, pids, 0.001)
    assert neg['text_for_image'].tolist()[:1] == [1]  # image 0 -> text 1


def test_queue_must_divide_by_global_batch(tiny_cfg):
    model = MODELS.build(tiny_cfg(**{'heads.itc.queue_size': 10}))
    with pytest.raises(ValueError, match='divisible by the global batch'):
        model(**batch(model), mode='loss')


def test_queue_fills_with_momentum_features_and_pids(tiny_cfg):
    model = MODELS.build(tiny_cfg())
    model.loss_weights.update(itm=0.0, triplet=0.0, mlm=0.0, local=0.0)
    data = batch(model, n=4, pids=[3, 3, 5, 5])
    model(**data, mode='loss')
    itc = model.heads.itc.loss_module
    assert int(itc.queue_ptr) == 4
    assert itc.pid_queue[:4].tolist() == [3, 3, 5, 5]
    assert (itc.pid_queue[4:] == -1).all()
    assert torch.allclose(itc.image_queue[:, :4].norm(dim=0), torch.ones(4),
                          atol=1e-5)
    model(**data, mode='loss')
    assert int(itc.queue_ptr) == 0  # 8-slot queue wrapped around


def test_backward_attention_is_zero_in_last_layer_only(tiny_cfg):
    """LAIP: the masked-word score does not depend on the last layer's
    [CLS]-row attention, so its backward attention vanishes there."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg())
    model.eval()  # no dropout: exact zeros
    data = batch(model)
    img = model.extract_image_feat(data['inputs']['images'])
    pm = model.heads.mlm.masker.mask_phrases([PHRASES] * 4)
    _, tokens = model.text_encoder(pm['masked_ids'], pm['attention_mask'])
    labels = pm['labels']
    grads = []
    for layer in range(len(model.fusion_encoder.layer)):
        fused, attn = model.fusion_encoder(
            tokens, pm['attention_mask'], img['tokens'],
            attention_layer=layer)
        logits = model.heads.mlm(fused)
        score = (logits.gather(-1, labels.clamp(min=0)[..., None])[..., 0]
                 * (labels >= 0)).sum()
        grads.append(torch.autograd.grad(score, attn, retain_graph=True)[0])
    assert grads[-1][:, :, 0].abs().max() == 0
    assert grads[0][:, :, 0].abs().max() > 0


def test_unknown_loss_weight_key(tiny_cfg):
    with pytest.raises(ValueError, match='Unknown loss_weights'):
        MODELS.build(tiny_cfg(**{'loss_weights.itx': 1.0}))


def test_missing_phrases_error_is_actionable(tiny_cfg):
    model = MODELS.build(tiny_cfg())
    data = batch(model)
    for s in data['data_samples']:
        s.set_metainfo(dict(phrases=[]))
    with pytest.raises(ValueError, match='phrase_cfg'):
        model(**data, mode='loss')


def test_head_arguments_are_filled_heads_in_config_order(tiny_cfg):
    model = MODELS.build(tiny_cfg())
    assert list(model.heads) == ['itc', 'itm', 'triplet', 'mlm', 'local']
    assert model.heads.itm.fc.in_features == model.fusion_encoder.embed_dim
    assert model.heads.mlm.predictor.decoder.out_features == \
        model.tokenizer.vocab_size
    assert model.heads.local.image_proj.out_features == 16
    # BERT's tied decoder bias: one parameter under two names.
    pred = model.heads.mlm.predictor
    assert pred.decoder.bias is pred.bias


def test_mpm_and_local_share_one_masked_pass(monkeypatch, tiny_cfg):
    """LAIP's MPM and BidirAtt read the same phrase-masked fusion pass: the
    masker runs once per batch."""
    model = MODELS.build(tiny_cfg())
    masker = model.heads.mlm.masker
    calls = []
    original = type(masker).__call__
    monkeypatch.setattr(type(masker), '__call__',
                        lambda self, *a, **k: calls.append(1) or
                        original(self, *a, **k))
    model(**batch(model), mode='loss')
    assert len(calls) == 1


def test_mlm_ablation_runs_a_separate_phrase_pass(tiny_cfg):
    model = MODELS.build(tiny_cfg('configs/laip/laip_synth_mlm.py'))
    assert type(model.heads.local.phrase_masker).__name__ == 'PhraseMasker'
    losses = model(**batch(model), mode='loss')
    assert {'loss_mlm', 'loss_local'} <= set(losses)


def test_local_head_refuses_caption_masker(tiny_cfg):
    cfg = tiny_cfg('configs/laip/laip_synth_mlm.py')
    cfg.heads.local.phrase_masker = None
    model = MODELS.build(cfg)
    with pytest.raises(ValueError, match='phrase_masker'):
        model(**batch(model), mode='loss')


def test_in_batch_itc_without_momentum_model(tiny_cfg):
    """APTM's ITC: no momentum encoders, no queue."""
    cfg = tiny_cfg('configs/albef/albef_synth.py', momentum=None)
    cfg.heads.itc = dict(type='InBatchITCHead')
    model = MODELS.build(cfg)
    assert model.momentum is None
    losses = model(**batch(model), mode='loss')
    assert set(losses) == {'loss_itc', 'loss_itm'}
    losses['loss_itc'].backward()
    assert model.heads.itc.loss_module.log_inv_temperature.grad is not None


def test_momentum_head_needs_momentum_model(tiny_cfg):
    with pytest.raises(ValueError, match='model.momentum'):
        MODELS.build(tiny_cfg('configs/albef/albef_synth.py',
                              momentum=None))


def test_rerank_head_must_exist_and_duplicate_keys_are_refused(tiny_cfg):
    with pytest.raises(ValueError, match='rerank.head'):
        MODELS.build(tiny_cfg(**{'rerank.head': 'nope'}))
    cfg = tiny_cfg('configs/albef/albef_synth.py')
    cfg.heads.itm2 = dict(type='ITMHead')
    model = MODELS.build(cfg)
    with pytest.raises(KeyError, match='loss_name'):
        model(**batch(model), mode='loss')


def test_zero_weight_head_is_not_called(monkeypatch, tiny_cfg):
    model = MODELS.build(tiny_cfg('configs/albef/albef_synth.py'))
    model.loss_weights['itm'] = 0.0
    monkeypatch.setattr(model.heads.itm, 'loss', lambda batch: 1 / 0)
    assert set(model(**batch(model), mode='loss')) == {'loss_itc'}


def test_mpm_in_caption_control_masks_captions_and_keeps_bidiratt(tiny_cfg):
    """laip_synth_mpm_caption.py: MPM rows are whole captions (one per
    phrase), BidirAtt keeps its own phrase pass."""
    model = MODELS.build(tiny_cfg('configs/laip/laip_synth_mpm_caption.py'))
    data = batch(model)
    losses = model(**data, mode='loss')
    assert {'loss_mpm', 'loss_local'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    fused = model.heads.mlm.masker(None, data['data_samples'])
    assert fused['rows'].tolist() == [i for i in range(4) for _ in PHRASES]
    captions = model.data_preprocessor.tokenizer([CAPTION])['input_ids']
    assert torch.equal(fused['input_ids'][:, :captions.shape[1]],
                       captions.expand(len(fused['rows']), -1))
