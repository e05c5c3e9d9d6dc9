# aga_synth_tem.py (random masking + text enrichment) fine-tuned from the
# synthetic pre-training, as aga_synth_pretrained.py.
_base_ = ['./aga_synth_tem.py']

load_from = 'work_dirs/albef_synth_pretrain/epoch_10.pth'
custom_hooks = [{{_base_.tem_start_hook}}, dict(type='ResetQueuesHook')]
