# Ablation of aga_synth.py: ALBEF + masked-word modelling with random
# masking (15% of tokens, 80/10/10), no text enrichment.
_base_ = ['./aga_synth.py']

model = dict(heads=dict(
    _delete_=True,
    itc=dict(type='MomentumITCHead', queue_size=2048, temperature=0.07,
             alpha=0.4),
    itm=dict(type='ITMHead'),
    mlm=dict(type='MaskedTokenHead', masker=dict(type='RandomWordMasker',
                                                 mask_prob=0.15)),
))
custom_hooks = []
