# LAIP's two stages in one run: stage 1 (30 epochs) ITC + ITM, stage 2
# (15 epochs) all losses. AdamW and cosine decay with one warm-up epoch;
# the learning rate and warm-up length, which the LAIP paper does not give,
# follow ALBEF's retrieval fine-tuning.
_base_ = ['./albef_finetune.py']
stage2_begin = 30
max_epochs = 45
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs,
         eta_min=1e-6, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
custom_hooks = [
    dict(type='LossStageHook', stages=[
        dict(begin=0, loss_weights=dict(triplet=0.0, mlm=0.0, local=0.0)),
        dict(begin=stage2_begin, loss_weights=dict()),
    ]),
]
