# AGA = ALBEF (ViT-B/16 + BERT, momentum ITC, ITM) + masked-word modelling
# with attention-guided masking (AGM) + text enrichment (TEM). TEM runs
# before the other heads: it rewrites the captions ITC and ITM read. The MLM head is named
# 'mlm' so converted ALBEF pre-training checkpoints fill its BERT LM head
# (the retrieval ones have none).
_base_ = ['./albef_vit_b16_bert.py']
model = dict(heads=dict(
    _delete_=True,
    tem=dict(type='TextEnricher', mlm_head='mlm', prob=0.5),
    itc=dict(type='MomentumITCHead', queue_size=65536, temperature=0.07,
             alpha=0.4),
    itm=dict(type='ITMHead'),
    mlm=dict(type='MaskedTokenHead',
             masker=dict(type='AttentionGuidedMasker', mask_ratio=0.15,
                         layers=None, strategy='sample', temperature=1.0)),
))
# TEM from the second epoch, when the MLM head predicts better than chance.
custom_hooks = [
    dict(type='LossStageHook', stages=[
        dict(begin=0, loss_weights=dict(tem=0.0)),
        dict(begin=1, loss_weights=dict(tem=1.0)),
    ]),
]
