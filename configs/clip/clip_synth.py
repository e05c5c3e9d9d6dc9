# CLIP-style baseline on the embedded SynthPEDES, small enough for a CPU:
# randomly initialised (no OpenAI weights, load_from stays None).
_base_ = [
    '../_base_/models/clip_vit_b16.py',
    '../_base_/datasets/synth_pedes.py',
    '../_base_/schedules/synth_cpu.py',
    '../_base_/default_runtime.py',
]

model = dict(
    data_preprocessor=dict(
        tokenizer=dict(_delete_=True, type='SynthPEDESTokenizer'),
        mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
    image_encoder=dict(width=128, layers=4, heads=4, patch_size=8,
                       img_size=(64, 32)),
    text_encoder=dict(vocab_size=None, context_length=64, width=128,
                      layers=3, heads=4),
    embed_dim=128,
    losses=dict(itc=dict(temperature=0.07)),
)

max_epochs = 10
warmup_epochs = 1
optim_wrapper = dict(optimizer=dict(lr=1e-3, weight_decay=0.05),
                     paramwise_cfg={{_base_.clip_paramwise_cfg}})
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=warmup_epochs,
         end=max_epochs, eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=20))
load_from = None  # trained from scratch: OpenAI weights do not fit 128-d
