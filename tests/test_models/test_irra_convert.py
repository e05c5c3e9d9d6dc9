"""IRRA -> tbps conversion (tbps.converters.irra,
tools/model_converters/irra2tbps.py) on a checkpoint in IRRA's format
written without IRRA's code (tbps.testing.irra_checkpoint): the converted
model gives IRRA's image and text features at 384x128 to < 1e-4."""
import os.path as osp

import pytest
import torch
from mmengine.registry import init_default_scope

from tbps.apis import init_model
from tbps.converters import detect_format
from tbps.converters.irra import convert_irra_state_dict
from tbps.registry import MODELS
from tbps.testing import (CLIP_TEXT, irra_checkpoint, open_clip_model,
                          tiny_clip_config)

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
IMG = (384, 128)
NUM_CLASSES = 8


def irra_config():
    """The IRRA model of configs/irra at open_clip_model's small sizes."""
    cfg = tiny_clip_config(IMG, patch=16)
    cfg.model.losses = dict(
        sdm=dict(type='SDMLoss', temperature=0.02),
        id=dict(type='IDLoss', num_classes=NUM_CLASSES,
                in_dim=cfg.model.embed_dim))
    cfg.model.masker = dict(type='RandomWordMasker', mask_prob=0.15)
    cfg.model.irr = dict(type='IRRHead', num_layers=1,
                         vocab_size=CLIP_TEXT['vocab'])
    cfg.model.loss_weights = dict(sdm=1.0, id=1.0, mlm=1.0)
    return cfg


@pytest.fixture(scope='module')
def irra():
    """(IRRA checkpoint, a float reference CLIP holding its base_model
    weights as IRRA stores them: rounded to float16)."""
    reference = open_clip_model(img_size=IMG, patch=16)
    checkpoint = irra_checkpoint(reference, num_classes=NUM_CLASSES)
    reference.load_state_dict({
        k[len('base_model.'):]: v.float()
        for k, v in checkpoint['model'].items()
        if k.startswith('base_model.')})
    return checkpoint, reference.eval()


def text_batch():
    """CLIP-style rows: start, words, end (the largest id), zero padding."""
    g = torch.Generator().manual_seed(0)
    eot = CLIP_TEXT['vocab'] - 1
    ids = torch.zeros(3, 12, dtype=torch.long)
    for i, length in enumerate((5, 9, 3)):
        words = torch.randint(1, eot - 1, (length, ), generator=g)
        ids[i, :length + 2] = torch.cat([torch.tensor([eot - 1]), words,
                                         torch.tensor([eot])])
    return ids, (ids > 0).long()


def test_keys_and_shapes(irra):
    checkpoint, _ = irra
    assert detect_format(checkpoint['model']) == 'irra'
    new, report = convert_irra_state_dict(checkpoint, img_size=IMG)
    assert report['unmapped'] == [] and report['id_classes'] == NUM_CLASSES
    src = checkpoint['model']
    assert torch.equal(new['losses.id.classifier.weight'],
                       src['classifier.weight'].float())
    assert torch.equal(
        new['irr.cross_modal_transformer.resblocks.0.mlp.c_fc.weight'],
        src['cross_modal_transformer.resblocks.0.mlp.c_fc.weight'].float())
    assert new['image_encoder.positional_embedding'].shape[0] == 1 + 24 * 8
    assert all(v.dtype == torch.float32 for v in new.values()
               if v.is_floating_point())
    dropped = {k for keys in report['dropped'].values() for k in keys}
    assert 'base_model.logit_scale' in dropped


def test_converted_model_gives_irra_features(irra):
    checkpoint, reference = irra
    init_default_scope('tbps')
    model = MODELS.build(irra_config().model).eval()
    new, _ = convert_irra_state_dict(checkpoint, img_size=IMG)
    result = model.load_state_dict(new, strict=False)
    assert result.unexpected_keys == []
    assert set(result.missing_keys) <= {'losses.sdm.log_inv_temperature'}
    images = torch.randn(2, 3, *IMG, generator=torch.Generator()
                         .manual_seed(1))
    ids, mask = text_batch()
    with torch.no_grad():
        image = model.extract_image_feat(images)['global']
        text = model.extract_text_feat(
            dict(input_ids=ids, attention_mask=mask))['global']
        expected_image = reference.encode_image(images)
        expected_text = reference.encode_text(torch.nn.functional.pad(
            ids, (0, CLIP_TEXT['context'] - ids.shape[1])))
    assert (image - expected_image).abs().max() < 1e-4
    assert (text - expected_text).abs().max() < 1e-4


def test_cli_and_init_model(irra, tmp_path, load_tool):
    checkpoint, reference = irra
    src = tmp_path / 'best.pth'
    torch.save(checkpoint, str(src))
    dst = tmp_path / 'out' / 'irra_tbps.pth'
    config = tmp_path / 'irra_tiny.py'
    irra_config().dump(str(config))
    tool = load_tool('tools/model_converters/irra2tbps.py')
    assert tool.main([str(src), str(dst), '--config', str(config)]) == 0
    saved = torch.load(str(dst), weights_only=True)
    assert saved['meta']['id_classes'] == NUM_CLASSES
    # init_model converts IRRA's own file on the fly as well.
    model = init_model(irra_config(), str(src))
    images = torch.randn(1, 3, *IMG)
    with torch.no_grad():
        got = model.encode_image(images)
        expected = torch.nn.functional.normalize(
            reference.encode_image(images), dim=-1)
    assert (got - expected).abs().max() < 1e-4
