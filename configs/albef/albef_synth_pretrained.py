# albef_synth.py fine-tuned from the synthetic pre-training of
# albef_synth_pretrain.py: first
#     python tools/train.py configs/albef/albef_synth_pretrain.py \
#         --work-dir work_dirs/albef_synth_pretrain
# (or --cfg-options load_from=CHECKPOINT). The loaded queues' identities
# (pre-training numbers) are forgotten before the first step.
_base_ = ['./albef_synth.py']

load_from = 'work_dirs/albef_synth_pretrain/epoch_10.pth'
custom_hooks = [dict(type='ResetQueuesHook')]
