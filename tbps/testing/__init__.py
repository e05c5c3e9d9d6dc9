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


def open_clip_model(seed=0):
    """open_clip's CLIP with every tensor randomised (LayerNorm weights
    around 1), so a wrong mapping or a missing transpose shows."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
    torch.manual_seed(seed)
    vis, txt = CLIP_VISION, CLIP_TEXT
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


def tiny_clip_config(img_size=(224, 224)):
    """``configs/clip/clip_synth.py`` with encoders of
    :func:`open_clip_model`'s sizes."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'clip',
                                   'clip_synth.py'))
    # Whole encoder dicts replaced (not merged with the synth sizes).
    cfg.model.image_encoder = dict(
        type='CLIPVisionEncoder', width=CLIP_VISION['width'],
        layers=CLIP_VISION['layers'], heads=CLIP_VISION['width'] // 64,
        patch_size=CLIP_VISION['patch'], img_size=img_size)
    cfg.model.text_encoder = dict(
        type='CLIPTextEncoder', vocab_size=CLIP_TEXT['vocab'],
        context_length=CLIP_TEXT['context'], width=CLIP_TEXT['width'],
        layers=CLIP_TEXT['layers'], heads=CLIP_TEXT['width'] // 64)
    cfg.model.embed_dim = CLIP_EMBED
    return cfg


__all__ = ['CLIP_EMBED', 'CLIP_TEXT', 'CLIP_VISION', 'open_clip_model',
           'tiny_clip_config']
