# laip_synth_mlm.py (MPM -> random MLM) fine-tuned from the synthetic ALBEF
# pre-training, as laip_synth_pretrained.py (the ablation in the papers'
# regime).
_base_ = ['./laip_synth_mlm.py']

load_from = 'work_dirs/albef_synth_pretrain/epoch_10.pth'
custom_hooks = [{{_base_.loss_stage_hook}}, dict(type='ResetQueuesHook')]
