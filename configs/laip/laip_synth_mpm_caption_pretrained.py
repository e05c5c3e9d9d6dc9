# laip_synth_mpm_caption.py (MPM in the whole caption, a control) fine-tuned
# from the synthetic ALBEF pre-training, as laip_synth_pretrained.py.
_base_ = ['./laip_synth_mpm_caption.py']

load_from = 'work_dirs/albef_synth_pretrain/epoch_10.pth'
custom_hooks = [{{_base_.loss_stage_hook}}, dict(type='ResetQueuesHook')]
