# aptm_synth.py fine-tuned from the synthetic pre-training of
# aptm_synth_pretrain.py: first
#     python tools/train.py configs/aptm/aptm_synth_pretrain.py \
#         --work-dir work_dirs/aptm_synth_pretrain
# (or --cfg-options load_from=CHECKPOINT).
_base_ = ['./aptm_synth.py']

load_from = 'work_dirs/aptm_synth_pretrain/epoch_10.pth'
