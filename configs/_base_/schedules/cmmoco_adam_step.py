# TextReID's solver: Adam (L2 weight decay 4e-5), lr 1e-4, biases 2x
# without decay; 80 epochs, steps at 40 and 70 (x0.1), 5 linear warm-up
# epochs from 0.1x, the learning rate changed once per epoch as theirs.
max_epochs = 80
optim_wrapper = dict(
    type='OptimWrapper',
    # torch's fused kernel: one pass per parameter, CPU and CUDA
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999), eps=1e-8,
                   weight_decay=4e-5,
                   fused=True),
    paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=5),
    dict(type='MultiStepLR', by_epoch=True, milestones=[40, 70], gamma=0.1,
         begin=0, end=max_epochs),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='RetrievalValLoop')
test_cfg = dict(type='RetrievalTestLoop')
auto_scale_lr = dict(base_batch_size=128, enable=False)
