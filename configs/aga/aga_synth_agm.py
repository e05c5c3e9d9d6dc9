# Ablation of aga_synth.py: attention-guided masking, no text enrichment.
_base_ = ['./aga_synth.py']

model = dict(loss_weights=dict(tem=0.0))
custom_hooks = []
