# IRRA's --img_aug at 384x128: flip, pad 10 + random crop, random erasing.
# Used as ``train_dataloader = dict(dataset=dict(
#     pipeline=_base_.reid_train_pipeline))``.
reid_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 384), keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='mmpretrain.RandomCrop', crop_size=(384, 128), padding=10),
    dict(type='mmpretrain.RandomErasing', erase_prob=0.5, mode='const',
         fill_color=(124, 116, 104)),
    dict(type='PackTBPSInputs'),
]
