"""LAIP / ALBEF details faithful to the papers' code (the LAIP fidelity
issue): distillation warm-up, weight-decay exemptions, ..."""
import pytest
import torch
from mmengine.logging import MessageHub

from tbps.models.heads import MomentumITCHead


@pytest.fixture
def runtime_info():
    """Set the runner's iteration info; restored afterwards."""
    hub = MessageHub.get_current_instance()
    keys = ('iter', 'max_iters', 'max_epochs')
    saved = {k: hub.get_info(k) for k in keys}

    def set_info(**info):
        for key, value in info.items():
            hub.update_info(key, value)

    yield set_info
    for key, value in saved.items():
        hub.runtime_info.pop(key, None)
        if value is not None:
            hub.update_info(key, value)


def test_distillation_weight_ramps_over_the_first_epoch(runtime_info):
    head = MomentumITCHead(embed_dim=8, queue_size=16, alpha=0.4)
    # 10 epochs of 50 iterations: ALBEF's alpha * min(1, i / 50)
    for step, expected in ((0, 0.0), (25, 0.2), (49, 0.4 * 49 / 50),
                           (50, 0.4), (400, 0.4)):
        runtime_info(iter=step, max_iters=500, max_epochs=10)
        assert head.current_alpha() == pytest.approx(expected)
    off = MomentumITCHead(embed_dim=8, queue_size=16, alpha=0.4,
                          alpha_warmup_epochs=0)
    runtime_info(iter=0, max_iters=500, max_epochs=10)
    assert off.current_alpha() == 0.4


def test_the_loss_uses_the_weight_it_is_given():
    from tbps.models.losses import MomentumITCLoss
    torch.manual_seed(0)
    loss = MomentumITCLoss(embed_dim=8, queue_size=16, alpha=0.4)
    feats = [torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
             for _ in range(4)]
    pids = torch.arange(4)
    a = loss(*feats, pids)
    assert torch.equal(loss(*feats, pids, alpha=0.4), a)
    assert not torch.equal(loss(*feats, pids, alpha=0.0), a)


@pytest.mark.parametrize('config', ['configs/laip/laip_synth.py',
                                    'configs/laip/laip_cuhk.py'])
def test_no_weight_decay_on_biases_norms_and_temperatures(config, tiny_cfg):
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from tbps.registry import MODELS
    cfg = Config.fromfile(config)
    model = MODELS.build(tiny_cfg('configs/laip/laip_synth.py'))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    decay = {}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            decay[names[id(p)]] = group['weight_decay']
    base = cfg.optim_wrapper.optimizer.weight_decay
    assert decay['heads.itc.loss_module.log_temperature'] == 0
    assert decay['heads.local.loss_module.log_inv_temperature'] == 0
    assert decay['text_encoder.bert.encoder.layer.0.attention.output.'
                 'LayerNorm.weight'] == 0
    assert decay['image_proj.proj.bias'] == 0
    assert decay['image_proj.proj.weight'] == base > 0



@pytest.mark.parametrize('config', ['configs/clip/clip_synth.py',
                                    'configs/clip/clip_cuhk.py',
                                    'configs/irra/irra_synth.py'])
def test_clip_decays_neither_temperature_nor_biases_nor_norms(config):
    """CLIP's exemptions; without them AdamW shrinks log(1/tau) to 0."""
    from mmengine.config import Config
    from mmengine.optim import build_optim_wrapper
    from tbps.registry import MODELS
    cfg = Config.fromfile(config)
    model = MODELS.build(Config.fromfile('configs/clip/clip_synth.py').model)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)]: group['weight_decay']
             for group in wrapper.optimizer.param_groups
             for p in group['params']}
    base = cfg.optim_wrapper.optimizer.weight_decay
    assert decay['losses.itc.log_inv_temperature'] == 0
    norms = [n for n in decay if '.ln' in n and n.endswith('weight')]
    biases = [n for n in decay if n.endswith('bias')]
    assert norms and biases
    assert all(decay[n] == 0 for n in norms + biases)
    assert decay['image_proj.proj.weight'] == base > 0

def _lrs(schedulers, optimizer, steps):
    out = []
    for _ in range(steps):
        out.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return out


def test_each_stage_restarts_warmup_and_cosine():
    from mmengine.optim.scheduler import CosineAnnealingLR, LinearLR
    from tbps.engine.schedulers import StagedCosineLR

    def sgd():
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)

    # epochs of 4 iterations; stages at epochs 0 and 3; 5 epochs
    opt = sgd()
    staged = StagedCosineLR.build_iter_from_epoch(
        opt, stages=[0, 3], warmup=1, warmup_factor=0.1, eta_min=0.01,
        begin=0, end=5, by_epoch=True, epoch_length=4)
    got = _lrs([staged], opt, 20)
    # stage 1 equals mmengine's LinearLR + CosineAnnealingLR over epochs 0-3
    ref_opt = sgd()
    reference = _lrs([
        LinearLR.build_iter_from_epoch(ref_opt, start_factor=0.1, begin=0,
                                       end=1, by_epoch=True, epoch_length=4),
        CosineAnnealingLR.build_iter_from_epoch(
            ref_opt, eta_min=0.01, begin=1, end=3, by_epoch=True,
            epoch_length=4)], ref_opt, 12)
    assert got[:12] == pytest.approx(reference)
    # stage 2 starts over: 0.1x the base rate, the peak after its warm-up
    assert got[12] == pytest.approx(0.05) and got[15] == pytest.approx(0.5)
    assert got[11] < 0.06 and got[19] < got[17]
    with pytest.raises(ValueError, match='stages'):
        StagedCosineLR(sgd(), stages=[1, 3], begin=0, end=5)


def test_laip_configs_restart_at_stage_two():
    from mmengine.config import Config
    for path, stage2 in (('configs/laip/laip_cuhk.py', 30),
                         ('configs/laip/laip_synth.py', 8)):
        cfg = Config.fromfile(path)
        (scheduler, ) = cfg.param_scheduler
        assert scheduler.type == 'StagedCosineLR'
        assert scheduler.stages == [0, stage2] == [
            s.begin for s in cfg.custom_hooks[0].stages]


def test_bidiratt_reads_the_attention_before_dropout():
    from tbps.registry import MODELS
    torch.manual_seed(0)
    encoder = MODELS.build(dict(
        type='BertFusionEncoder', num_layers=2, encoder_width=16,
        config=dict(hidden_size=32, num_attention_heads=4,
                    intermediate_size=64, attention_probs_dropout_prob=0.5)))
    encoder.train()
    text = torch.randn(3, 5, 32)
    mask = torch.ones(3, 5, dtype=torch.long)
    image = torch.randn(3, 7, 16)
    fused, attention = encoder(text, mask, image, attention_layer=1)
    # a distribution over the image tokens (dropout would zero and rescale)
    torch.testing.assert_close(attention.sum(-1), torch.ones(3, 4, 5))
    # ...while the forward pass itself still drops attention in training
    fused_again, _ = encoder(text, mask, image, attention_layer=1)
    assert not torch.allclose(fused, fused_again)


def _samples(phrases, paths, pids):
    from tbps.structures import TBPSDataSample
    return [TBPSDataSample(metainfo=dict(phrases=p, img_path=path, pid=pid,
                                         modality='pair'))
            for p, path, pid in zip(phrases, paths, pids)]


def test_mpm_masks_every_phrase_in_a_row_of_its_own():
    from tbps.datasets.tokenizers import SynthPEDESTokenizer
    from tbps.models.maskers import PhraseMasker
    tok = SynthPEDESTokenizer()
    phrases = [['long hair', 'a purple jacket', 'gray shoes'], [],
               ['a red coat']]
    samples = _samples(phrases, ['a.jpg', 'b.jpg', 'c.jpg'], [0, 1, 2])
    out = PhraseMasker(tok)(None, samples)
    assert out['rows'].tolist() == [0, 0, 0, 1, 2]
    assert out['phrase_texts'] == ['long hair', 'a purple jacket',
                                   'gray shoes', '', 'a red coat']
    assert out['valid'].tolist() == [True, True, True, False, True]
    assert (out['labels'][out['valid']] != -100).any(1).all()
    capped = PhraseMasker(tok, phrases_per_caption=1)(
        None, samples, generator=torch.Generator().manual_seed(0))
    assert capped['rows'].tolist() == [0, 1, 2]
    assert capped['phrase_texts'][0] in phrases[0]


def test_phrase_rows_are_fused_with_their_own_image(tiny_cfg):
    from tbps.models.heads.fusion_batch import FusionBatch
    from tbps.registry import MODELS
    torch.manual_seed(0)
    model = MODELS.build(tiny_cfg(**{'heads.itc.queue_size': 9}))
    imgs = [torch.randint(0, 255, (3, 64, 32), dtype=torch.uint8)
            for _ in range(3)]
    samples = _samples([['long hair', 'gray shoes'], ['a red coat'],
                        ['a red coat', 'long hair']],
                       ['a.jpg', 'b.jpg', 'c.jpg'], [0, 0, 1])
    for s in samples:
        s.set_metainfo(dict(caption='a man with long hair'))
    data = model.data_preprocessor(dict(inputs=imgs, data_samples=samples),
                                   True)
    batch = FusionBatch(model, data['inputs'], data['data_samples'])
    out = model.heads.mlm.masked_pass(batch)
    assert out['rows'].tolist() == [0, 0, 1, 2, 2]
    assert torch.equal(out['image_tokens'],
                       batch.image_feat['tokens'][out['rows']])
    from tbps.models.heads.local_alignment_head import phrase_labels
    labels = phrase_labels(batch, out['rows'], out['phrase_texts']).tolist()
    # same image and phrase only: the two 'long hair' rows are of images
    # a and c, the two 'a red coat' rows of b and c -> all different
    assert len(set(labels)) == 5
    assert phrase_labels(batch, torch.tensor([0, 0]),
                         ['long hair', 'long hair']).unique().numel() == 1
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_local']) and 'loss_mpm' in losses


def test_fine_tuning_forgets_the_pretraining_queue_identities():
    import types
    from mmengine.logging import MMLogger
    from tbps.engine.hooks import ResetQueuesHook
    from tbps.models.losses import CrossModalMoCoLoss, MomentumITCLoss
    itc = MomentumITCLoss(embed_dim=4, queue_size=8)
    moco = CrossModalMoCoLoss(embed_dim=4, queue_size=8)
    model = torch.nn.ModuleDict(dict(itc=itc, moco=moco))
    for loss in (itc, moco):
        loss.pid_queue.copy_(torch.arange(8))
        loss.queue_ptr.fill_(5)
    features = itc.image_queue.clone()
    runner = types.SimpleNamespace(iter=3, model=model,
                                   logger=MMLogger.get_current_instance())
    ResetQueuesHook().before_train(runner)  # resumed: kept
    assert itc.pid_queue.tolist() == list(range(8))
    runner.iter = 0
    ResetQueuesHook().before_train(runner)
    for loss in (itc, moco):
        assert (loss.pid_queue == -1).all() and int(loss.queue_ptr) == 0
    assert torch.equal(itc.image_queue, features)  # still negatives
