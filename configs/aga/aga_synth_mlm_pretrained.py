# aga_synth_mlm.py (ALBEF + random masking) fine-tuned from the synthetic
# pre-training, as aga_synth_pretrained.py.
_base_ = ['./aga_synth_mlm.py']

load_from = 'work_dirs/albef_synth_pretrain/epoch_10.pth'
custom_hooks = [dict(type='ResetQueuesHook')]
