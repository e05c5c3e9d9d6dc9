default_scope = 'tbps'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keep the last checkpoint and the best one by *validation* R1.
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=1,
                    save_best='R1', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # a NaN/inf loss stops the run, naming the term and the last checkpoint
    finite_loss=dict(type='FiniteLossHook'),
    # checkpoints carry the RNG states: --resume continues the same stream
    rng_state=dict(type='RNGStateHook'),
)

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# Training curves and pictures: local files by default; add
# dict(type='TensorboardVisBackend') for TensorBoard (docs/visualization.md).
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='TBPSVisualizer', vis_backends=vis_backends)

log_processor = dict(by_epoch=True, window_size=50)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
