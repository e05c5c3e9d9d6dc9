# LAIP on CUHK-PEDES, initialised from ALBEF's COCO-retrieval checkpoint
# converted with tools/model_converters/albef2tbps.py.
_base_ = [
    '../_base_/models/laip_vit_b16_bert.py',
    '../_base_/datasets/cuhk_pedes.py',
    '../_base_/schedules/laip_two_stage.py',
    '../_base_/default_runtime.py',
]
train_dataloader = dict(
    batch_size=32,  # x 4 GPUs = 128; queue 65536 / 128
    dataset=dict(phrase_cfg=dict(cache_file='phrases.json', backend='auto')))
load_from = 'checkpoints/albef_mscoco_tbps.pth'
