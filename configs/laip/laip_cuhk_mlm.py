# Ablation: LAIP with random-word MLM on the whole caption instead of Mask
# Phrase Modeling; BidirAtt masks one word per phrase in a pass of its own.
_base_ = ['./laip_cuhk.py']
model = dict(heads=dict(
    mlm=dict(masker=dict(_delete_=True, type='RandomWordMasker',
                         mask_prob=0.15), loss_name='loss_mlm'),
    local=dict(phrase_masker=dict(type='PhraseMasker'))))
