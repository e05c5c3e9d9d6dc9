# Ablation of cmmoco_synth.py: no queues. The momentum contrast takes its
# negatives from the batch's momentum keys (gathered over ranks) of other
# identities instead of 2048 past keys; everything else unchanged.
_base_ = ['./cmmoco_synth.py']

model = dict(moco=dict(queue_size=0))
