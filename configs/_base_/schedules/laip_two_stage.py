# LAIP's two stages in one run: stage 1 (30 epochs) ITC + ITM, stage 2
# (15 epochs) all losses. AdamW; as the paper, each stage has its own
# warm-up + cosine decay (one warm-up epoch from 0.1x, cosine to 1e-6); the
# learning rate and warm-up length, which the paper does not give, follow
# ALBEF's retrieval fine-tuning.
_base_ = ['./albef_finetune.py']
stage2_begin = 30
max_epochs = 45
param_scheduler = [
    dict(type='StagedCosineLR', stages=[0, stage2_begin], warmup=1,
         warmup_factor=0.1, eta_min=1e-6, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
custom_hooks = [
    dict(type='LossStageHook', stages=[
        dict(begin=0, loss_weights=dict(triplet=0.0, mlm=0.0, local=0.0)),
        dict(begin=stage2_begin, loss_weights=dict()),
    ]),
]
