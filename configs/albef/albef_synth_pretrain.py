# ALBEF's pre-training losses (ITC with momentum queues + ITM + MLM) on the
# synthetic MALS-like corpus (data/synth_mals, generated on first use:
# 2000 people x 2 images, one caption each, none of them a SynthPEDES
# identity), the model of albef_synth.py. Its checkpoint initialises the
# SynthPEDES fine-tuning runs (load_from). Checkpoints are selected on
# SynthPEDES validation (the corpus has no validation split).
#
# ITC is in-batch here (InfoNCE over the batch, learnable temperature), not
# ALBEF's momentum queue: from random weights the queue's targets come from
# a momentum encoder whose features are still collapsed, and in the
# corpus's 1250 steps the model never leaves that plateau (seed 0: ITC
# loss 7.23 at epoch 10 against log(2048 + 32) = 7.64 for chance, ITM at
# its prior, SynthPEDES validation R1 1.4; with alpha = 0 as well). ALBEF
# starts from pretrained unimodal encoders that have no such plateau. The
# fine-tuning configs use ALBEF's momentum ITC again.
_base_ = ['./albef_synth.py']

model = dict(heads=dict(
    itc=dict(_delete_=True, type='InBatchITCHead',
             loss=dict(type='InfoNCELoss', temperature=0.07, use_pids=True)),
    mlm=dict(type='MaskedTokenHead', masker=dict(type='RandomWordMasker',
                                                 mask_prob=0.15))))
train_dataloader = dict(
    # each image is its own identity, as in MALS
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(_delete_=True, type='SynthMALS', data_root='data/synth_mals',
                 seed=0, pipeline={{_base_.train_pipeline}}))
max_epochs = 10
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs,
         eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
