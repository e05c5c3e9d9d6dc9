# LAIP = ALBEF + fusion triplet loss (margin 0.6) + Mask Phrase Modeling +
# BidirAtt local alignment. The training datasets must attach noun phrases
# (phrase_cfg) and a LossStageHook switches the local losses on (schedule).
_base_ = ['./albef_vit_b16_bert.py']
model = dict(heads=dict(
    triplet=dict(type='FusionTripletHead', itm_head='itm', margin=0.6),
    mlm=dict(type='MaskedTokenHead', masker=dict(type='PhraseMasker'),
             attention_layer=2,  # third of six fusion layers (ALBEF's
             loss_name='loss_mpm'),  # Grad-CAM layer) for BidirAtt
    local=dict(type='LocalAlignmentHead', masked_token_head='mlm',
               pooling=dict(type='BidirAttentionPooling',
                            mode='bidirectional'),
               embed_dim=256,
               loss=dict(type='InfoNCELoss', temperature=0.07)),
))
