# The CLIP baseline's model (clip_synth.py) pre-trained with InfoNCE on the
# synthetic MALS-like corpus (data/synth_mals, generated on first use; no
# SynthPEDES identity in it); its checkpoint initialises CLIP and IRRA
# fine-tuning on SynthPEDES (load_from). Checkpoints are selected on
# SynthPEDES validation (the corpus has no validation split).
_base_ = ['./clip_synth.py']

train_dataloader = dict(
    sampler=dict(_delete_=True, type='DefaultSampler', shuffle=True),
    dataset=dict(_delete_=True, type='SynthMALS', data_root='data/synth_mals',
                 seed=0, pipeline={{_base_.train_pipeline}}))
