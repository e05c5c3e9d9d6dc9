# ICFG-PEDES: see the README section "Data preparation" for the layout.
# It has no validation split: 200 training identities are held out
# (val_ids, same value on train and val) so that the best checkpoint is
# chosen without looking at test.
dataset_type = 'ICFGPEDES'
val_ids = 200
data_root = 'data/ICFG-PEDES'
img_scale = (128, 384)  # (W, H), mmcv order

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.RandomErasing', erase_prob=0.5, mode='const',
         fill_color=(124, 116, 104)),
    dict(type='PackTBPSInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='PackTBPSInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 val_ids=val_ids, pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 val_ids=val_ids, pipeline=test_pipeline),
)
test_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 pipeline=test_pipeline),
)
val_evaluator = dict(type='TextToImageRetrievalMetric')
test_evaluator = val_evaluator
