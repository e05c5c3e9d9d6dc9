# Ablation: local alignment with forward attention only (no gradient-based
# backward attention).
_base_ = ['./laip_cuhk.py']
model = dict(heads=dict(local=dict(pooling=dict(mode='forward'))))
