# LAIP = ALBEF + fusion triplet loss (margin 0.6) + Mask Phrase Modeling +
# BidirAtt local alignment. The training datasets must attach noun phrases
# (phrase_cfg) and a LossStageHook switches the local losses on (schedule).
_base_ = ['./albef_vit_b16_bert.py']
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
