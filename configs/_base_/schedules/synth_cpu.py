# CPU schedule of the embedded SynthPEDES configs (models trained from
# scratch): AdamW, 16 epochs, one linear warm-up epoch from 0.1x, cosine to
# 1e-5, validation every 2 epochs.
max_epochs = 16
warmup_epochs = 1

optim_wrapper = dict(
    type='OptimWrapper',
    # torch's fused kernel: one pass per parameter, CPU and CUDA
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=0.02,
                   betas=(0.9, 0.999),
                   fused=True),
    clip_grad=None,
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=warmup_epochs,
         end=max_epochs, eta_min=1e-5, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=2)
# mmengine's loops, plus binding the model's top-k re-ranking (if any).
val_cfg = dict(type='RetrievalValLoop')
test_cfg = dict(type='RetrievalTestLoop')
auto_scale_lr = dict(base_batch_size=32, enable=False)
