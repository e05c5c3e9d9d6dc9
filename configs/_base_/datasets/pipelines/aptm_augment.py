# APTM's training augmentation at 384x128 (their dataset/__init__.py and
# randaugment.py): bicubic resize, flip, RandomAugment(N=2, M=7) over ten
# operations (drawn with replacement, each applied with probability 0.5),
# then random erasing 0.6 filled with the dataset mean (0 after their
# normalisation). mmpretrain's operations with magnitude ranges that give
# APTM's values at level 7 of 10: brightness / sharpness factor 1.36 (never
# darker), shear +-0.21, translation +-7 pixels, rotation +-21 degrees, fill
# 128. Use as ``pipeline=[..., {{_base_.aptm_randaugment}}, ...]``.
aptm_randaugment = dict(
    type='mmpretrain.RandAugment', num_policies=2, magnitude_level=7,
    total_level=10, policies=[
        # 'Identity': a colour change of factor 1
        dict(type='mmpretrain.ColorTransform', magnitude_range=(0, 0)),
        dict(type='mmpretrain.AutoContrast'),
        dict(type='mmpretrain.Equalize'),
        dict(type='mmpretrain.Brightness', magnitude_range=(-0.9, 0.9),
             random_negative_prob=0.0),
        dict(type='mmpretrain.Sharpness', magnitude_range=(-0.9, 0.9),
             random_negative_prob=0.0),
        dict(type='mmpretrain.Shear', magnitude_range=(0, 0.3),
             direction='horizontal', pad_val=128),
        dict(type='mmpretrain.Shear', magnitude_range=(0, 0.3),
             direction='vertical', pad_val=128),
        # fractions of the 128-pixel width / 384-pixel height: 10 px at M=10
        dict(type='mmpretrain.Translate', magnitude_range=(0, 10 / 128),
             direction='horizontal', pad_val=128),
        dict(type='mmpretrain.Translate', magnitude_range=(0, 10 / 384),
             direction='vertical', pad_val=128),
        dict(type='mmpretrain.Rotate', magnitude_range=(0, 30), pad_val=128),
    ])
aptm_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 384), keep_ratio=False,
         interpolation='bicubic'),
    dict(type='PackTBPSInputs'),
]
