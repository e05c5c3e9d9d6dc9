# Ablation: BidirAtt from the first fusion layer (laip_synth uses layer 1 of
# 3; the last layer gives no backward attention).
_base_ = ['./laip_synth.py']
model = dict(heads=dict(mlm=dict(attention_layer=0)))
