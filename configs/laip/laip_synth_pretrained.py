# laip_synth.py fine-tuned from the synthetic pre-training of
# configs/albef/albef_synth_pretrain.py (the papers' regime: LAIP starts
# from a pre-trained ALBEF), first
#     python tools/train.py configs/albef/albef_synth_pretrain.py \
#         --work-dir work_dirs/albef_synth_pretrain
# (or --cfg-options load_from=CHECKPOINT). The image-phrase head ('local')
# starts fresh; MPM's predictor loads the pre-training's MLM head (same
# name, 'mlm'); the loaded queues' identities are forgotten before the
# first step.
_base_ = ['./laip_synth.py']

load_from = 'work_dirs/albef_synth_pretrain/epoch_10.pth'
custom_hooks = [{{_base_.loss_stage_hook}}, dict(type='ResetQueuesHook')]
