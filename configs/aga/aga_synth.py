# AGA on the embedded SynthPEDES: albef_synth.py (ITC with momentum queues +
# ITM) plus masked-word modelling whose words are chosen by the text
# encoder's [CLS] attention (AGM) and text enrichment (TEM) of the captions
# ITC / ITM read. Our choices where the paper is silent are listed in
# configs/aga/README.md.
_base_ = ['../albef/albef_synth.py']

model = dict(
    heads=dict(
        _delete_=True,
        # TEM runs before the other heads: it rewrites the captions they read
        tem=dict(type='TextEnricher', mlm_head='mlm', prob=0.5),
        itc=dict(type='MomentumITCHead', queue_size=2048, temperature=0.07,
                 alpha=0.4),
        itm=dict(type='ITMHead'),
        mlm=dict(type='MaskedTokenHead',
                 masker=dict(type='AttentionGuidedMasker', mask_ratio=0.15,
                             layers=None, strategy='sample',
                             temperature=1.0)),
    ),
)
# TEM starts after the first epoch, when the MLM head predicts words better
# than chance.
tem_start_hook = dict(type='LossStageHook', stages=[
    dict(begin=0, loss_weights=dict(tem=0.0)),
    dict(begin=1, loss_weights=dict(tem=1.0)),
])
custom_hooks = [tem_start_hook]
