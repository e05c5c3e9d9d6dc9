# Ablation: local alignment with forward attention only (no gradient-based
# backward attention).
_base_ = ['./laip_synth.py']
model = dict(local_alignment=dict(pooling=dict(mode='forward')))
