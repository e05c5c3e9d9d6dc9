# Ablation: BidirAtt from the first fusion layer (laip_synth uses layer 1 of
# 3; the last layer gives no backward attention).
_base_ = ['./laip_synth.py']
model = dict(local_alignment=dict(layer=0))
