# Control for the IRRA comparison: clip_synth.py with the InfoNCE
# temperature fixed at 0.07 (not learned), as IRRA's SDM temperature is
# fixed (irra_synth.py). CLIP vs IRRA otherwise differs in two things at
# once: the loss and whether its temperature is learned.
_base_ = ['./clip_synth.py']

model = dict(losses=dict(itc=dict(temperature=0.07, learnable=False)))
