# irra_synth.py (IRRA: SDM + ID + MLM) fine-tuned from the CLIP baseline
# pre-trained on the synthetic MALS-like corpus, first
#     python tools/train.py configs/clip/clip_synth_pretrain.py \
#         --work-dir work_dirs/clip_synth_pretrain
# (or --cfg-options load_from=CHECKPOINT).
_base_ = ['./irra_synth.py']

load_from = 'work_dirs/clip_synth_pretrain/epoch_10.pth'
