# Control of the LAIP comparison: albef_synth.py on laip_synth.py's
# schedule (one warm-up epoch + cosine, restarted at epoch 8), so that
# LAIP and this config differ only in LAIP's stage-2 heads.
_base_ = ['./albef_synth.py']

stage2_begin = 8
param_scheduler = [
    dict(type='StagedCosineLR', stages=[0, stage2_begin], warmup=1,
         warmup_factor=0.1, eta_min=1e-5, by_epoch=True, begin=0,
         end={{_base_.max_epochs}}, convert_to_iter_based=True),
]
# validated at epochs 12, 14 and 16, as laip_synth.py
train_cfg = dict(val_begin=12)
