# IRRA (Jiang & Ye, CVPR 2023) on CUHK-PEDES: the CLIP ViT-B/16 dual encoder
# of clip_cuhk.py (OpenAI weights via its load_from, 384x128, 60 epochs,
# 5 linear warm-up epochs from 0.1x, cosine to 0, batch 64) trained with
# SDM + ID + IRR instead of InfoNCE.
_base_ = ['../clip/clip_cuhk.py']

num_classes = 11003  # CUHK-PEDES training identities
model = dict(
    losses=dict(
        _delete_=True,
        sdm=dict(type='SDMLoss', temperature=0.02),
        id=dict(type='IDLoss', num_classes=num_classes, in_dim=512)),
    # IRR: 15% of the caption tokens, 80% -> mask id, 10% random, 10% kept;
    # one cross-attention + 4 transformer blocks at the joint width (512,
    # 8 heads), MLM head over the tokenizer's vocabulary (49408)
    masker=dict(type='RandomWordMasker', mask_prob=0.15,
                mask_token_ratio=0.8, random_token_ratio=0.1),
    irr=dict(type='IRRHead', num_layers=4),
    loss_weights=dict(sdm=1.0, id=1.0, mlm=1.0),
)

# IRRA's --img_aug: flip, pad 10 + random crop, random erasing.
train_dataloader = dict(dataset=dict(pipeline=[
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 384), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.RandomCrop', crop_size=(384, 128), padding=10),
    dict(type='mmpretrain.RandomErasing', erase_prob=0.5, mode='const',
         fill_color=(124, 116, 104)),
    dict(type='PackTBPSInputs'),
]))

# IRRA's solver: Adam (eps 1e-3, L2 weight decay 4e-5), lr 1e-5, 5x for the
# randomly initialised modules (cross-attention, cross-modal transformer,
# MLM head, ID classifier), biases 2x without weight decay. mmengine applies
# the first matching key, longest first, so the biases of the new modules
# get 5x with decay (IRRA: cross-module biases 2x, head biases 5x, no decay).
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='Adam', lr=1e-5, betas=(0.9, 0.999),
                   eps=1e-3, weight_decay=4e-5),
    paramwise_cfg=dict(custom_keys={
        'irr.cross_attn': dict(lr_mult=5.0),
        'irr.cross_modal_transformer': dict(lr_mult=5.0),
        'irr.mlm_head': dict(lr_mult=5.0),
        'losses.id.classifier': dict(lr_mult=5.0),
        'bias': dict(lr_mult=2.0, decay_mult=0.0),
    }))
