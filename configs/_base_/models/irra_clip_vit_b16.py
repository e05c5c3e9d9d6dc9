# IRRA (Jiang & Ye, CVPR 2023): the CLIP ViT-B/16 dual encoder trained with
# SDM + ID + IRR instead of InfoNCE. Dataset configs set the number of
# training identities: model.losses.id.num_classes.
_base_ = ['./clip_vit_b16.py']
model = dict(
    losses=dict(
        _delete_=True,
        sdm=dict(type='SDMLoss', temperature=0.02),
        id=dict(type='IDLoss', num_classes=None, in_dim=512)),
    # IRR: 15% of the caption tokens, 80% -> mask id, 10% random, 10% kept;
    # one cross-attention + 4 transformer blocks at the joint width (512,
    # 8 heads), MLM head over the tokenizer's vocabulary (49408)
    masker=dict(type='RandomWordMasker', mask_prob=0.15,
                mask_token_ratio=0.8, random_token_ratio=0.1),
    irr=dict(type='IRRHead', num_layers=4),
    loss_weights=dict(sdm=1.0, id=1.0, mlm=1.0),
)
