# aga_synth_tem.py (random masking + text enrichment) fine-tuned from the
# synthetic pre-training, as aga_synth_pretrained.py.
_base_ = ['./aga_synth_tem.py']

load_from = 'work_dirs/albef_synth_pretrain/epoch_10.pth'
custom_hooks = [
    dict(type='LossStageHook', stages=[
        dict(begin=0, loss_weights=dict(tem=0.0)),
        dict(begin=1, loss_weights=dict(tem=1.0)),
    ]),
    dict(type='ResetQueuesHook'),
]
