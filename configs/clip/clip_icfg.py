# CLIP-style baseline (ViT-B/16 + CLIP text, InfoNCE) on icfg_pedes.
# Initialise from OpenAI CLIP weights converted with
# tools/model_converters/clip2tbps.py (see configs/clip/README.md).
_base_ = [
    '../_base_/models/clip_vit_b16.py',
    '../_base_/datasets/icfg_pedes.py',
    '../_base_/schedules/adamw_cosine.py',
    '../_base_/default_runtime.py',
]
load_from = 'checkpoints/clip_vit_b16_openai_tbps.pth'
optim_wrapper = dict(paramwise_cfg={{_base_.clip_paramwise_cfg}})
