# Ablation: LAIP with random-word MLM on the whole caption instead of Mask
# Phrase Modeling (BidirAtt still uses one masked word per phrase).
_base_ = ['./laip_cuhk.py']
model = dict(masker=dict(_delete_=True, type='RandomWordMasker',
                         mask_prob=0.15))
