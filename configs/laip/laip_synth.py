# LAIP on the embedded SynthPEDES (CPU, minutes): ALBEF + fusion triplet +
# Mask Phrase Modeling + BidirAtt, trained in two stages in one run.
_base_ = ['../albef/albef_synth.py']

stage2_begin = 10  # stage 1: ITC + ITM; stage 2: all losses
model = dict(heads=dict(
    triplet=dict(type='FusionTripletHead', itm_head='itm', margin=0.6),
    mlm=dict(type='MaskedTokenHead', masker=dict(type='PhraseMasker'),
             # a middle fusion layer; the last one gets no gradient
             attention_layer=1, loss_name='loss_mpm'),
    local=dict(type='LocalAlignmentHead', masked_token_head='mlm',
               pooling=dict(type='BidirAttentionPooling',
                            mode='bidirectional'),
               embed_dim=128,
               loss=dict(type='InfoNCELoss', temperature=0.07)),
))
custom_hooks = [
    dict(type='LossStageHook', stages=[
        dict(begin=0, loss_weights=dict(triplet=0.0, mlm=0.0, local=0.0)),
        dict(begin=stage2_begin, loss_weights=dict()),
    ]),
]
train_dataloader = dict(dataset=dict(
    phrase_cfg=dict(cache_file='phrases.json', backend='auto')))
