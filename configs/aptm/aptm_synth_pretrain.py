# APTM pre-training (captions + attribute prompts) on the synthetic
# MALS-like corpus (data/synth_mals, generated on first use: 2000 people x
# 2 images, one caption and 27 attribute labels each, none of them a
# SynthPEDES identity), with aptm_synth.py's model: ITC + ITM + MLM +
# 0.8 (a_itc + a_itm + a_mlm) / 3, label smoothing 0.4 on the attribute
# losses, no EDA view (APTM pre-trains without it). Its last checkpoint
# initialises aptm_synth_pretrained.py. Without the attribute stream:
# --cfg-options model.loss_weights.attr=0.
_base_ = ['./aptm_synth.py']

model = dict(
    heads=dict(_delete_=True,
               itc=dict(type='InBatchITCHead',
                        loss=dict(type='InfoNCELoss', temperature=0.07,
                                  use_pids=True)),
               itm=dict(type='ITMHead', hidden_dim=256),
               mlm=dict(type='MaskedTokenHead',
                        masker=dict(type='RandomWordMasker', mask_prob=0.25,
                                    max_masks=10, whole_word=True)),
               attr=dict(type='AttributePromptHead', label_smoothing=0.4)),
    loss_weights=dict(_delete_=True, attr=0.8 / 3))
train_dataloader = dict(
    # each image is its own identity, as in MALS
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(_delete_=True, type='SynthMALS', data_root='data/synth_mals',
                 seed=0, pipeline={{_base_.train_pipeline_no_eda}}))
max_epochs = 10
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs,
         eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
