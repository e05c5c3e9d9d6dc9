# ALBEF retrieval fine-tuning schedule (Retrieval_coco.yaml): AdamW lr 1e-5,
# weight decay 0.02, one warm-up epoch then cosine to 1e-6.
max_epochs = 30
warmup_epochs = 1

# As ALBEF's optimizer: no weight decay on biases, LayerNorm weights and
# the learnable temperatures (AdamW would pull log-temperature to 0).
albef_paramwise_cfg = dict(
    bias_decay_mult=0.0, norm_decay_mult=0.0,
    custom_keys={'temperature': dict(decay_mult=0.0)},
    bypass_duplicate=True)  # the MLM decoder bias is tied to its head's
optim_wrapper = dict(
    type='OptimWrapper',
    # torch's fused kernel: one pass per parameter, CPU and CUDA
    optimizer=dict(type='AdamW', lr=1e-5, weight_decay=0.02,
                   fused=True),
    paramwise_cfg=albef_paramwise_cfg,
    clip_grad=None,
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0,
         end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=warmup_epochs,
         end=max_epochs, eta_min=1e-6, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
# mmengine's loops, plus binding the model's top-k re-ranking (if it has
# one, see model.rerank) to the retrieval metric.
val_cfg = dict(type='RetrievalValLoop')
test_cfg = dict(type='RetrievalTestLoop')
auto_scale_lr = dict(base_batch_size=128, enable=False)
