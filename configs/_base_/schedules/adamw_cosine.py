# AdamW with linear warm-up then cosine decay, by epoch.
max_epochs = 60
warmup_epochs = 5

optim_wrapper = dict(
    type='OptimWrapper',
    # torch's fused kernel: one pass per parameter, CPU and CUDA
    optimizer=dict(type='AdamW', lr=1e-5, weight_decay=4e-5,
                   betas=(0.9, 0.999),
                   fused=True),
    clip_grad=None,
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=warmup_epochs,
         end=max_epochs, eta_min=0.0, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
# mmengine's loops, plus binding the model's top-k re-ranking (if it has
# one, see model.rerank) to the retrieval metric.
val_cfg = dict(type='RetrievalValLoop')
test_cfg = dict(type='RetrievalTestLoop')
# Learning rates above are for the total batch of the dataset config
# (e.g. 64 on one GPU); scale with --auto-scale-lr.
auto_scale_lr = dict(base_batch_size=64, enable=False)
