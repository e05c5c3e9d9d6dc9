# albef_synth_staged.py fine-tuned from the synthetic pre-training of
# albef_synth_pretrain.py (the control of laip_synth_pretrained.py): first
#     python tools/train.py configs/albef/albef_synth_pretrain.py \
#         --work-dir work_dirs/albef_synth_pretrain
_base_ = ['./albef_synth_staged.py']

load_from = 'work_dirs/albef_synth_pretrain/epoch_10.pth'
custom_hooks = [dict(type='ResetQueuesHook')]
