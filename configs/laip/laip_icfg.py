# LAIP on ICFG-PEDES: ALBEF + fusion triplet loss (margin 0.6) + Mask Phrase
# Modeling + BidirAtt local alignment; stage 1 (30 epochs) ITC + ITM, stage 2
# (15 epochs) all losses, in one run. Initialised from ALBEF's COCO-retrieval
# checkpoint converted with tools/model_converters/albef2tbps.py.
# Values the LAIP paper text available to us does not state (learning rate,
# warm-up, text length, BidirAtt layer) follow ALBEF's retrieval fine-tuning.
_base_ = [
    '../_base_/models/albef_vit_b16_bert.py',
    '../_base_/datasets/icfg_pedes.py',
    '../_base_/schedules/albef_finetune.py',
    '../_base_/default_runtime.py',
]

stage2_begin = 30
max_epochs = 45
model = dict(
    triplet=dict(type='FusionTripletLoss', margin=0.6),
    masker=dict(type='PhraseMasker'),
    local_alignment=dict(
        layer=2,  # third of six fusion layers (ALBEF's Grad-CAM layer)
        pooling=dict(type='BidirAttentionPooling', mode='bidirectional'),
        embed_dim=256,
        loss=dict(type='InfoNCELoss', temperature=0.07)),
    loss_weights=dict(itc=1.0, itm=1.0, triplet=1.0, mlm=1.0, local=1.0),
)
custom_hooks = [
    dict(type='LossStageHook', stages=[
        dict(begin=0, loss_weights=dict(triplet=0.0, mlm=0.0, local=0.0)),
        dict(begin=stage2_begin, loss_weights=dict()),
    ]),
]
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=1, end=max_epochs,
         eta_min=1e-6, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
train_dataloader = dict(
    batch_size=32,  # x 4 GPUs = 128; queue 65536 / 128
    dataset=dict(phrase_cfg=dict(cache_file='phrases.json', backend='auto')))
load_from = 'checkpoints/albef_mscoco_tbps.pth'
