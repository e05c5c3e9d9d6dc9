# LAIP on the embedded SynthPEDES (CPU, minutes): ALBEF + fusion triplet +
# Mask Phrase Modeling + BidirAtt, trained in two stages in one run.
_base_ = ['../albef/albef_synth.py']

stage2_begin = 10  # stage 1: ITC + ITM; stage 2: all losses
model = dict(
    triplet=dict(type='FusionTripletLoss', margin=0.6),
    masker=dict(type='PhraseMasker'),
    local_alignment=dict(
        layer=1,  # a middle fusion layer; the last one gets no gradient
        pooling=dict(type='BidirAttentionPooling', mode='bidirectional'),
        embed_dim=128,
        loss=dict(type='InfoNCELoss', temperature=0.07)),
    loss_weights=dict(itc=1.0, itm=1.0, triplet=1.0, mlm=1.0, local=1.0),
)
custom_hooks = [
    dict(type='LossStageHook', stages=[
        dict(begin=0, loss_weights=dict(triplet=0.0, mlm=0.0, local=0.0)),
        dict(begin=stage2_begin, loss_weights=dict()),
    ]),
]
train_dataloader = dict(dataset=dict(
    phrase_cfg=dict(cache_file='phrases.json', backend='auto')))
