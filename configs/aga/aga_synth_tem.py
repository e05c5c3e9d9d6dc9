# Ablation of aga_synth.py: random masking (15% of tokens, 80/10/10) with
# text enrichment from the second epoch.
_base_ = ['./aga_synth.py']

model = dict(heads=dict(mlm=dict(masker=dict(
    _delete_=True, type='RandomWordMasker', mask_prob=0.15))))
