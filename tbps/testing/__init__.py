"""Generators of checkpoints in foreign formats, at small sizes with the
real key layouts and shape relations, for tests of the converters and the
model zoo (no download needed)."""
import os.path as osp

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: open_clip CLIP sizes: ViT width 128, 2 layers, patch 32 at 224 (7x7).
CLIP_VISION = dict(width=128, layers=2, patch=32, img=224)
CLIP_TEXT = dict(width=128, layers=2, context=77, vocab=1000)
CLIP_EMBED = 64
#: open_clip ResNet CLIP: CLIPResNetEncoder arguments, joint width 32.
CLIP_RN_EMBED = 32
CLIP_RN = dict(layers=(1, 1, 1, 1), output_dim=CLIP_RN_EMBED, heads=8,
               width=16)


def open_clip_resnet_model(seed=0):
    """open_clip's CLIP with a ResNet vision tower (:data:`CLIP_RN`, a
    512-channel map, 8 attention-pool heads) and a 1-layer text tower of
    width 64 over the real 49408-token BPE vocabulary; every tensor,
    BatchNorm statistics included, randomised."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
    torch.manual_seed(seed)
    model = CLIP(
        CLIP_RN_EMBED,
        CLIPVisionCfg(layers=CLIP_RN['layers'], width=CLIP_RN['width'],
                      image_size=224, head_width=64),
        CLIPTextCfg(context_length=77, vocab_size=49408, width=64, heads=1,
                    layers=1),
        quick_gelu=True)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == 'logit_scale':
                p.fill_(4.0)
            elif p.dim() == 1 and 'weight' in name and (
                    'ln' in name or 'bn' in name
                    or 'downsample.1' in name):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.05 * torch.randn_like(p))
        for name, b in model.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(0.1 * torch.randn_like(b))
            elif name.endswith('running_var'):
                b.copy_(0.8 + 0.4 * torch.rand_like(b))
    assert model.visual.attnpool.num_heads == CLIP_RN['heads']
    return model.eval()


def open_clip_model(seed=0, img_size=None, patch=None):
    """open_clip's CLIP with every tensor randomised (LayerNorm weights
    around 1), so a wrong mapping or a missing transpose shows;
    ``img_size`` (H, W) and ``patch`` override :data:`CLIP_VISION`."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
    torch.manual_seed(seed)
    vis, txt = dict(CLIP_VISION), CLIP_TEXT
    vis.update({k: v for k, v in (('img', img_size), ('patch', patch))
                if v is not None})
    model = CLIP(
        CLIP_EMBED,
        CLIPVisionCfg(layers=vis['layers'], width=vis['width'],
                      patch_size=vis['patch'], image_size=vis['img'],
                      head_width=64),
        CLIPTextCfg(context_length=txt['context'], vocab_size=txt['vocab'],
                    width=txt['width'], heads=txt['width'] // 64,
                    layers=txt['layers']),
        quick_gelu=True)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == 'logit_scale':
                p.fill_(4.0)
            elif p.dim() == 1 and ('ln' in name and 'weight' in name):
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(0.05 * torch.randn_like(p))
    return model.eval()


def tiny_clip_config(img_size=(224, 224), patch=None):
    """``configs/clip/clip_synth.py`` with encoders of
    :func:`open_clip_model`'s sizes."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'clip',
                                   'clip_synth.py'))
    # Whole encoder dicts replaced (not merged with the synth sizes).
    cfg.model.image_encoder = dict(
        type='CLIPVisionEncoder', width=CLIP_VISION['width'],
        layers=CLIP_VISION['layers'], heads=CLIP_VISION['width'] // 64,
        patch_size=patch or CLIP_VISION['patch'], img_size=img_size)
    cfg.model.text_encoder = dict(
        type='CLIPTextEncoder', vocab_size=CLIP_TEXT['vocab'],
        context_length=CLIP_TEXT['context'], width=CLIP_TEXT['width'],
        layers=CLIP_TEXT['layers'], heads=CLIP_TEXT['width'] // 64)
    cfg.model.embed_dim = CLIP_EMBED
    return cfg


def irra_checkpoint(clip_model, num_classes=8, cmt_depth=1, seed=0):
    """A checkpoint in IRRA's format (anosorae/IRRA ``Checkpointer``
    output for ``model/build.py``'s ``IRRA``), written without IRRA's code:
    ``base_model`` is ``clip_model``'s OpenAI-layout state dict and the IRR
    modules and ID classifier are random tensors of IRRA's shapes (width =
    the joint embedding, heads = width // 64), all in float16 as IRRA's
    ``convert_weights`` leaves them."""
    gen = torch.Generator().manual_seed(seed)
    sd = {'base_model.' + k: v for k, v in clip_model.state_dict().items()}
    width = int(sd['base_model.text_projection'].shape[1])
    vocab = int(sd['base_model.token_embedding.weight'].shape[0])

    def rand(*shape, ln=False):
        x = torch.randn(*shape, generator=gen)
        return 1 + 0.1 * x if ln else 0.05 * x

    def linear(name, out_dim, in_dim):
        sd[f'{name}.weight'] = rand(out_dim, in_dim)
        sd[f'{name}.bias'] = rand(out_dim)

    def layer_norm(name):
        sd[f'{name}.weight'] = rand(width, ln=True)
        sd[f'{name}.bias'] = rand(width)

    def attention(name):
        sd[f'{name}.in_proj_weight'] = rand(3 * width, width)
        sd[f'{name}.in_proj_bias'] = rand(3 * width)
        linear(f'{name}.out_proj', width, width)

    linear('classifier', num_classes, width)
    attention('cross_attn')
    for i in range(cmt_depth):
        block = f'cross_modal_transformer.resblocks.{i}'
        attention(f'{block}.attn')
        layer_norm(f'{block}.ln_1')
        linear(f'{block}.mlp.c_fc', 4 * width, width)
        linear(f'{block}.mlp.c_proj', width, 4 * width)
        layer_norm(f'{block}.ln_2')
    for name in ('ln_pre_t', 'ln_pre_i', 'ln_post'):
        layer_norm(name)
    linear('mlm_head.dense', width, width)
    layer_norm('mlm_head.ln')
    linear('mlm_head.fc', vocab, width)
    model = {k: v.half() if v.is_floating_point() else v
             for k, v in sd.items()}
    return {'model': model, 'optimizer': {'state': {}, 'param_groups': []},
            'scheduler': {'last_epoch': 60}, 'num_epoch': 60}


__all__ = ['CLIP_EMBED', 'CLIP_TEXT', 'CLIP_VISION', 'irra_checkpoint',
           'open_clip_model', 'tiny_clip_config']
