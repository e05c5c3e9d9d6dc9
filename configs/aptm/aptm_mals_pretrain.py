# APTM pre-training on MALS (Retrieval_gene.yaml): ITC + ITM + MLM on the
# captions plus the attribute prompts (27 pairs of sentences; attribute ITC,
# ITM and MLM with label smoothing 0.4), total itc + itm + mlm + 0.8 (a_itc
# + a_itm + a_mlm) / 3. 32 epochs, AdamW 1e-4 (no 2x layers in
# pre-training), linear warm-up over 2600 steps then linear decay to 0;
# 4 GPUs x 150 images. Initialised from Swin-B ImageNet-22k
# (tools/model_converters/swin2tbps.py) and BERT-base
# (tools/model_converters/bert2tbps.py: layers 0-5 text, 6-11 fusion, new
# cross-attention). MALS is read from data_root (json files + images, see
# the README's data table): --cfg-options
# train_dataloader.dataset.data_root=PATH for a copy elsewhere. No
# validation: the last checkpoint initialises the aptm_{cuhk,icfg,rstp}.py
# fine-tuning (APTM evaluates it on CUHK-PEDES with other image statistics).
_base_ = [
    '../_base_/models/aptm_swin_b_bert.py',
    '../_base_/datasets/pipelines/aptm_augment.py',
    '../_base_/default_runtime.py',
]
model = dict(
    # APTM's MALS image statistics (0-255)
    data_preprocessor=dict(mean=(112.630, 106.623, 108.055),
                           std=(78.751, 75.846, 76.757)),
    # The BERT file is loaded into the whole model, not per encoder with a
    # prefix: besides text_encoder.* and fusion_encoder.* it holds
    # heads.mlm.predictor.* (APTM's BertForMaskedLM.from_pretrained starts
    # the MLM head from BERT's), and the heads take no init_cfg. mmengine
    # applies this after the submodules' init_weights (the Swin load below);
    # its missing-keys warning lists what BERT does not initialise.
    init_cfg=dict(type='Pretrained',
                  checkpoint='checkpoints/bert_base_uncased_tbps.pth'),
    image_encoder=dict(init_cfg=dict(
        type='Pretrained', checkpoint='checkpoints/swin_base_22k_tbps.pth',
        prefix='image_encoder.')),
    heads=dict(attr=dict(type='AttributePromptHead', label_smoothing=0.4)),
    loss_weights=dict(attr=0.8 / 3),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='mmpretrain.RandomResizedCrop', scale=384,
         crop_ratio_range=(0.5, 1.0), interpolation='bicubic'),
    dict(type='Resize', scale=(128, 384), keep_ratio=False,
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.aptm_randaugment}},
    dict(type='mmpretrain.RandomErasing', erase_prob=0.6, mode='const',
         fill_color=(113, 107, 108)),  # the mean: 0 after normalisation
    dict(type='PackTBPSInputs'),
]
train_dataloader = dict(
    batch_size=150,  # x 4 GPUs, as APTM
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='MALS', data_root='data/MALS',
                 pipeline=train_pipeline))
val_dataloader = val_evaluator = val_cfg = None
test_dataloader = test_evaluator = test_cfg = None

max_epochs = 32
optim_wrapper = dict(
    type='OptimWrapper',
    # torch's fused kernel: one pass per parameter, CPU and CUDA
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.01,
                   betas=(0.9, 0.98), eps=1e-8,
                   fused=True),
    paramwise_cfg=dict(bias_decay_mult=0.0, norm_decay_mult=0.0,
                       bypass_duplicate=True,
                       custom_keys={'temperature': dict(decay_mult=0.0)}),
    clip_grad=None,
)
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0,
         end=2600),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=2,
                                     save_best=None))
auto_scale_lr = dict(base_batch_size=600, enable=False)
