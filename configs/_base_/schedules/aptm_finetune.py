# APTM's fine-tuning schedule (Retrieval_{cuhk,icfg,rstp}.yaml): 30 epochs,
# AdamW lr 1e-4, weight decay 0.01, betas (0.9, 0.98), 2x lr for the layers
# of aptm_paramwise_cfg (models/aptm_swin_b_bert.py); 'step' schedule:
# linear warm-up over 10% of the steps, then a linear decay to 0 scaled by
# 1 (until 40%), 0.5 (until 70%) and 0.2 (after).
max_epochs = 30
optim_wrapper = dict(
    type='OptimWrapper',
    # torch's fused kernel: one pass per parameter, CPU and CUDA
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.01,
                   betas=(0.9, 0.98), eps=1e-8,
                   fused=True),
    clip_grad=None,
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0,
         end=3, convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         begin=3, end=max_epochs, convert_to_iter_based=True),
    # milestones count from ``begin``: epochs 12 (40%) and 21 (70%)
    dict(type='MultiStepLR', milestones=[9], gamma=0.5, by_epoch=True,
         begin=3, end=max_epochs, convert_to_iter_based=True),
    dict(type='MultiStepLR', milestones=[18], gamma=0.4, by_epoch=True,
         begin=3, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='RetrievalValLoop')
test_cfg = dict(type='RetrievalTestLoop')
auto_scale_lr = dict(base_batch_size=120, enable=False)
