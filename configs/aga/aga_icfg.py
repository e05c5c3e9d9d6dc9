# AGA on ICFG-PEDES, initialised from ALBEF's 14M pre-training checkpoint
# (ALBEF.pth, with its trained MLM head, which TEM reads from its start
# epoch) converted with tools/model_converters/albef2tbps.py.
_base_ = [
    '../_base_/models/aga_vit_b16_bert.py',
    '../_base_/datasets/icfg_pedes.py',
    '../_base_/schedules/albef_finetune.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(batch_size=32)  # x 4 GPUs = 128; queue 65536 / 128
load_from = 'checkpoints/albef_14m_tbps.pth'
