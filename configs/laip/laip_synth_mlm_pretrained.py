# laip_synth_mlm.py (MPM -> random MLM) fine-tuned from the synthetic ALBEF
# pre-training, as laip_synth_pretrained.py (the ablation in the papers'
# regime).
_base_ = ['./laip_synth_mlm.py']

load_from = 'work_dirs/albef_synth_pretrain/epoch_10.pth'
custom_hooks = [
    dict(type='LossStageHook', stages=[
        dict(begin=0, loss_weights=dict(triplet=0.0, mlm=0.0, local=0.0)),
        dict(begin={{_base_.stage2_begin}}, loss_weights=dict()),
    ]),
    dict(type='ResetQueuesHook'),
]
