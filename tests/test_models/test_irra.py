"""IRRA: the IRR head, DualEncoderRetriever with SDM + ID + IRR, its
checkpoint keys and the per-module learning rates of the configs."""
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from tbps.registry import MODELS
from tbps.structures import TBPSDataSample

WIDTH, VOCAB = 32, 50


def head(num_layers=2, **kw):
    torch.manual_seed(0)
    return MODELS.build(dict(type='IRRHead', vocab_size=VOCAB, width=WIDTH,
                             num_layers=num_layers, **kw))


def tokens(b=3, length=7, n=5):
    g = torch.Generator().manual_seed(1)
    return (torch.randn(b, length, WIDTH, generator=g),
            torch.randn(b, n, WIDTH, generator=g))


# ---------------------------------------------------------------- IRRHead
def test_head_shapes_names_and_init():
    irr = head(num_layers=3)
    text, image = tokens()
    assert irr(text, image).shape == (3, 7, VOCAB)
    assert irr.fuse(text, image).shape == (3, 7, WIDTH)
    assert irr.cross_attn.num_heads == 1  # width // 64, at least 1
    assert len(irr.cross_modal_transformer.resblocks) == 3
    names = {n for n, _ in irr.named_parameters()}
    for name in ('cross_attn.in_proj_weight', 'ln_pre_t.weight',
                 'ln_pre_i.weight', 'ln_post.weight',
                 'cross_modal_transformer.resblocks.2.mlp.c_proj.weight',
                 'mlm_head.dense.weight', 'mlm_head.ln.weight',
                 'mlm_head.fc.weight', 'mlm_head.fc.bias'):
        assert name in names, name
    # IRRA/CLIP init scales at this width
    big = MODELS.build(dict(type='IRRHead', vocab_size=VOCAB, width=256,
                            num_layers=4))
    assert big.cross_attn.num_heads == 4
    std = big.cross_attn.in_proj_weight.std().item()
    assert std == pytest.approx(256**-0.5, rel=0.05)
    std = big.mlm_head.fc.weight.std().item()
    assert std == pytest.approx(256**-0.5 * 8**-0.5, rel=0.05)
    std = big.cross_modal_transformer.resblocks[0].mlp.c_fc.weight.std()
    assert std.item() == pytest.approx(512**-0.5, rel=0.05)


def test_head_loss_is_ce_on_masked_positions_only():
    irr = head()
    text, image = tokens()
    labels = torch.full((3, 7), -100)
    labels[0, 2], labels[1, 5], labels[2, 1] = 4, 17, 49
    logits = irr(text, image)
    expected = F.cross_entropy(logits[labels != -100], labels[labels != -100])
    assert torch.allclose(irr.loss(text, image, labels), expected, atol=1e-5)
    # same as cross-entropy over all logits with ignore_index -100
    full = F.cross_entropy(logits.reshape(-1, VOCAB), labels.reshape(-1),
                           ignore_index=-100)
    assert torch.allclose(irr.loss(text, image, labels), full, atol=1e-5)
    # nothing masked: zero, still differentiable
    none = irr.loss(text, image, torch.full((3, 7), -100))
    assert none.item() == 0.0 and none.requires_grad


def test_head_gradients_reach_inputs_and_parameters():
    irr = head()
    text, image = tokens()
    text.requires_grad_(True)
    image.requires_grad_(True)
    labels = torch.full((3, 7), -100)
    labels[:, 3] = torch.tensor([1, 2, 3])
    irr.loss(text, image, labels).backward()
    assert text.grad.abs().sum() > 0 and image.grad.abs().sum() > 0
    for name, p in irr.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_head_is_bidirectional_and_ignores_padding_keys():
    irr = head().eval()
    text, image = tokens(b=1, length=6)
    changed = text.clone()
    changed[0, 4] = torch.randn(WIDTH)  # (a constant shift is normalised)
    # a later token changes earlier outputs: no causal mask
    assert not torch.allclose(irr.fuse(text, image)[0, 0],
                              irr.fuse(changed, image)[0, 0])
    # positions 4, 5 as padding: what they hold no longer matters
    mask = torch.tensor([[1, 1, 1, 1, 0, 0]])
    torch.testing.assert_close(irr.fuse(text, image, mask)[0, :4],
                               irr.fuse(changed, image, mask)[0, :4])
    # and the real tokens equal those of the unpadded caption
    torch.testing.assert_close(irr.fuse(text, image, mask)[0, :4],
                               irr.fuse(text[:, :4], image)[0],
                               rtol=1e-5, atol=1e-5)


def test_head_reads_the_image():
    irr = head().eval()
    text, image = tokens()
    assert not torch.allclose(irr(text, image),
                              irr(text, image + torch.randn(WIDTH)))


def test_head_learns_a_word_only_the_image_tells():
    """The masked word is the image's class; the caption tokens are the
    same for every sample, so only the cross-attention can solve it."""
    irr = head(num_layers=1)
    g = torch.Generator().manual_seed(2)
    classes = torch.arange(8) % 4
    prototypes = torch.randn(4, WIDTH, generator=g)
    image = prototypes[classes][:, None] + 0.1 * torch.randn(
        8, 3, WIDTH, generator=g)
    text = torch.randn(1, 5, WIDTH, generator=g).expand(8, -1, -1)
    labels = torch.full((8, 5), -100)
    labels[:, 2] = 10 + classes
    opt = torch.optim.Adam(irr.parameters(), lr=3e-3)
    first = irr.loss(text, image, labels).item()
    for _ in range(60):
        opt.zero_grad()
        irr.loss(text, image, labels).backward()
        opt.step()
    assert irr.loss(text, image, labels).item() < 0.1 * first
    assert torch.equal(irr(text, image)[:, 2].argmax(-1), 10 + classes)


def test_head_rejects_wrong_width():
    irr = head()
    with pytest.raises(ValueError, match='width'):
        irr(torch.randn(1, 3, WIDTH + 1), torch.randn(1, 2, WIDTH))


# ------------------------------------------------------------ retriever
def irra_synth_model_cfg(**changes):
    cfg = Config.fromfile('configs/irra/irra_synth.py')
    cfg.model.text_encoder.layers = 1
    cfg.model.update(changes)
    return cfg.model


def pair_batch(n=4):
    g = torch.Generator().manual_seed(3)
    imgs = [torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8,
                          generator=g) for _ in range(n)]
    colours = ['red', 'blue', 'green', 'black']
    samples = [TBPSDataSample(metainfo=dict(
        caption=f'a man in a {colours[i % 4]} shirt and blue jeans',
        pid=i // 2, modality='pair')) for i in range(n)]
    return dict(inputs=imgs, data_samples=samples)


def grad_norm(module):
    return sum(p.grad.abs().sum().item() for p in module.parameters()
               if p.grad is not None)


@pytest.fixture
def irra_model():
    torch.manual_seed(0)
    return MODELS.build(irra_synth_model_cfg())


def test_irra_losses_backprop_into_encoders_and_heads(irra_model):
    model = irra_model
    model.zero_grad()
    data = model.data_preprocessor(pair_batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_sdm', 'loss_id', 'loss_mlm'}
    for value in losses.values():
        assert value.dim() == 0 and torch.isfinite(value)
    sum(losses.values()).backward()
    for name in ('image_encoder', 'text_encoder', 'image_proj', 'text_proj',
                 'irr'):
        assert grad_norm(getattr(model, name)) > 0, name
    assert model.losses['id'].classifier.weight.grad.abs().sum() > 0


def test_irr_loss_alone_trains_both_encoders(irra_model):
    """loss_mlm reaches the image encoder through the cross-attention and
    the text encoder through the masked second pass."""
    model = irra_model
    model.zero_grad()
    data = model.data_preprocessor(pair_batch(), True)
    model(**data, mode='loss')['loss_mlm'].backward()
    assert grad_norm(model.image_encoder) > 0
    assert grad_norm(model.text_encoder) > 0
    assert grad_norm(model.losses) == 0


def test_irr_encodes_the_masked_caption_second(irra_model):
    model = irra_model
    seen = []
    handle = model.text_encoder.register_forward_hook(
        lambda mod, args, out: seen.append(args[0].clone()))
    try:
        data = model.data_preprocessor(pair_batch(), True)
        model(**data, mode='loss')
    finally:
        handle.remove()
    original = data['inputs']['text']['input_ids']
    assert len(seen) == 2
    assert torch.equal(seen[0], original)
    assert not torch.equal(seen[1], original)
    assert seen[1].shape == original.shape
    # every caption has at least one corrupted or kept-but-predicted token;
    # special tokens and padding are never touched
    special = torch.isin(original, torch.tensor(
        model.tokenizer.special_token_ids))
    assert torch.equal(seen[1][special], original[special])


def test_loss_weights_scale_and_skip():
    torch.manual_seed(0)
    model = MODELS.build(irra_synth_model_cfg(
        loss_weights=dict(sdm=1.0, id=0.5, mlm=0.0)))
    calls = []
    model.text_encoder.register_forward_hook(lambda *a: calls.append(1))
    data = model.data_preprocessor(pair_batch(), True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_sdm', 'loss_id'}
    assert len(calls) == 1  # no second text pass without the IRR loss
    feats_img = model.extract_image_feat(data['inputs']['images'])['global']
    feats_txt = model.extract_text_feat(data['inputs']['text'])['global']
    pids = model.pids_of(data['data_samples'])
    torch.testing.assert_close(
        losses['loss_id'], 0.5 * model.losses['id'](feats_img, feats_txt,
                                                    pids))
    with pytest.raises(ValueError, match='Unknown loss_weights'):
        MODELS.build(irra_synth_model_cfg(loss_weights=dict(itc=1.0)))


def test_masker_needs_irr_and_irr_width_must_match():
    cfg = Config.fromfile('configs/clip/clip_synth.py').model
    cfg.text_encoder.layers = 1
    with pytest.raises(ValueError, match='only used by the IRR branch'):
        MODELS.build(dict(cfg, masker=dict(type='RandomWordMasker')))
    with pytest.raises(ValueError, match='embed_dim'):
        MODELS.build(irra_synth_model_cfg(irr=dict(type='IRRHead',
                                                   width=64)))


def test_default_masker_uses_tokenizer_mask_id():
    model = MODELS.build(irra_synth_model_cfg(masker=None))
    assert type(model.masker).__name__ == 'RandomWordMasker'
    assert model.masker.mask_token_id == model.tokenizer.mask_token_id
    assert model.irr.vocab_size == model.tokenizer.vocab_size
    assert model.irr.width == model.embed_dim == 128


def test_checkpoint_keys():
    """IRRA = the CLIP baseline's keys minus its InfoNCE temperature plus
    ``irr.*`` and ``losses.id.classifier.*``; the masker holds no state."""
    clip_cfg = Config.fromfile('configs/clip/clip_synth.py').model
    clip_cfg.text_encoder.layers = 1
    clip_keys = set(MODELS.build(clip_cfg).state_dict())
    irra = MODELS.build(irra_synth_model_cfg())
    keys = set(irra.state_dict())
    assert clip_keys - keys == {'losses.itc.log_inv_temperature'}
    new = keys - clip_keys
    assert {k for k in new if not k.startswith('irr.')} == {
        'losses.id.classifier.weight', 'losses.id.classifier.bias'}
    irr_keys = {k[len('irr.'):] for k in new if k.startswith('irr.')}
    block = {'attn.in_proj_weight', 'attn.in_proj_bias',
             'attn.out_proj.weight', 'attn.out_proj.bias', 'ln_1.weight',
             'ln_1.bias', 'mlp.c_fc.weight', 'mlp.c_fc.bias',
             'mlp.c_proj.weight', 'mlp.c_proj.bias', 'ln_2.weight',
             'ln_2.bias'}
    expected = {'cross_attn.in_proj_weight', 'cross_attn.in_proj_bias',
                'cross_attn.out_proj.weight', 'cross_attn.out_proj.bias',
                'ln_pre_t.weight', 'ln_pre_t.bias', 'ln_pre_i.weight',
                'ln_pre_i.bias', 'ln_post.weight', 'ln_post.bias',
                'mlm_head.dense.weight', 'mlm_head.dense.bias',
                'mlm_head.ln.weight', 'mlm_head.ln.bias',
                'mlm_head.fc.weight', 'mlm_head.fc.bias'}
    expected |= {f'cross_modal_transformer.resblocks.{i}.{k}'
                 for i in range(2) for k in block}
    assert irr_keys == expected
    # a saved state dict loads back strictly
    clone = MODELS.build(irra_synth_model_cfg())
    clone.load_state_dict(irra.state_dict(), strict=True)


@pytest.mark.parametrize('dataset', ['cuhk', 'icfg', 'rstp'])
def test_full_configs_irra_settings(dataset):
    cfg = Config.fromfile(f'configs/irra/irra_{dataset}.py')
    assert cfg.train_cfg.max_epochs == 60
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.model.losses.keys() == {'sdm', 'id'}
    assert cfg.model.losses.sdm.temperature == 0.02
    assert cfg.model.irr.num_layers == 4
    assert cfg.model.embed_dim == 512
    assert cfg.optim_wrapper.optimizer == dict(
        type='Adam', lr=1e-5, betas=(0.9, 0.999), eps=1e-3,
        weight_decay=4e-5, fused=True)
    warmup, cosine = cfg.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end) == ('LinearLR',
                                                              0.1, 5)
    assert (cosine.type, cosine.begin, cosine.end,
            cosine.eta_min) == ('CosineAnnealingLR', 5, 60, 0.0)
    assert cfg.load_from  # OpenAI CLIP weights from the CLIP config
    assert cfg.model.losses.id.num_classes == {
        'cuhk': 11003, 'icfg': 3102 - 200, 'rstp': 3701}[dataset]


def test_per_module_learning_rates():
    """irra_cuhk's optimizer settings applied to the synth IRRA model (same
    parameter names): new modules 5x, biases 2x without decay."""
    optim_cfg = Config.fromfile('configs/irra/irra_cuhk.py').optim_wrapper
    model = MODELS.build(irra_synth_model_cfg())
    wrapper = build_optim_wrapper(model, optim_cfg)
    opt = wrapper.optimizer
    assert type(opt).__name__ == 'Adam' and opt.defaults['eps'] == 1e-3
    by_param = {id(p): g for g in opt.param_groups for p in g['params']}
    params = dict(model.named_parameters())
    assert len(by_param) == len(params)

    def lr_wd(name):
        g = by_param[id(params[name])]
        return pytest.approx(g['lr']), pytest.approx(g['weight_decay'])

    base = (1e-5, 4e-5)
    assert lr_wd('irr.cross_attn.in_proj_weight') == (5e-5, 4e-5)
    assert lr_wd('irr.cross_modal_transformer.resblocks.0.mlp.c_fc.weight'
                 ) == (5e-5, 4e-5)
    assert lr_wd('irr.mlm_head.fc.weight') == (5e-5, 4e-5)
    assert lr_wd('losses.id.classifier.weight') == (5e-5, 4e-5)
    assert lr_wd('irr.ln_pre_t.weight') == base  # IRRA: not a "cross" key
    assert lr_wd('irr.ln_post.bias') == (2e-5, 0.0)
    assert lr_wd('text_encoder.token_embedding.weight') == base
    assert lr_wd('text_encoder.transformer.resblocks.0.attn.in_proj_bias'
                 ) == (2e-5, 0.0)
    assert lr_wd('text_proj.proj.weight') == base
