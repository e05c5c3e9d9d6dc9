# aga_synth.py fine-tuned from the synthetic pre-training of
# configs/albef/albef_synth_pretrain.py (the paper's regime: AGA starts
# from a pre-trained ALBEF), first
#     python tools/train.py configs/albef/albef_synth_pretrain.py \
#         --work-dir work_dirs/albef_synth_pretrain
# (or --cfg-options load_from=CHECKPOINT). The loaded queues' identities
# (pre-training numbers) are forgotten before the first step.
_base_ = ['./aga_synth.py']

load_from = 'work_dirs/albef_synth_pretrain/epoch_10.pth'
custom_hooks = [{{_base_.tem_start_hook}}, dict(type='ResetQueuesHook')]
