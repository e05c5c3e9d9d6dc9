# IRRA on the embedded SynthPEDES: clip_synth.py's small, randomly
# initialised dual encoder, data and schedule (10 epochs) unchanged, trained
# with SDM + ID + IRR instead of InfoNCE, so the two runs compare directly.
# All modules start from scratch here, so IRRA's 5x learning rate for new
# modules (see irra_cuhk.py) is not used, and SDM's temperature is 0.07
# (clip_synth's initial one) rather than IRRA's 0.02 for CLIP-initialised
# features: from scratch, 0.02 gave val R1 17.8 vs 20.6 after 10 epochs
# (seed 0), behind at every validation.
_base_ = ['../clip/clip_synth.py']

num_classes = 500  # SynthPEDES training identities (generator default)
model = dict(
    losses=dict(
        _delete_=True,
        sdm=dict(type='SDMLoss', temperature=0.07),
        id=dict(type='IDLoss', num_classes=num_classes, in_dim=128)),
    masker=dict(type='RandomWordMasker', mask_prob=0.15,
                mask_token_ratio=0.8, random_token_ratio=0.1),
    # width = embed_dim (128, 2 heads), 2 blocks for the 3-layer text model
    irr=dict(type='IRRHead', num_layers=2),
    loss_weights=dict(sdm=1.0, id=1.0, mlm=1.0),
)
