# APTM fine-tuned on RSTPReid from its MALS pre-training (aptm_mals_pretrain.py's
# checkpoint, or the authors' released one converted by
# tools/model_converters/aptm2tbps.py): ITC + ITM + MLM, and ITC + ITM on an
# EDA view of each caption (weight 0.8), APTM's augmentation and schedule.
_base_ = [
    '../_base_/models/aptm_swin_b_bert_eda.py',
    '../_base_/datasets/rstp_reid.py',
    '../_base_/datasets/pipelines/aptm_augment.py',
    '../_base_/schedules/aptm_finetune.py',
    '../_base_/default_runtime.py',
]
# APTM's RSTPReid image statistics (0-255); erasing fills with the mean (0
# after normalisation, as APTM)
model = dict(data_preprocessor=dict(mean=(70.693, 66.468, 77.432), std=(66.543, 63.956, 64.498)))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 384), keep_ratio=False,
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.aptm_randaugment}},
    dict(type='mmpretrain.RandomErasing', erase_prob=0.6, mode='const',
         fill_color=(71, 66, 77)),
    dict(type='EDACaption'),  # WordNet when installed, else builtin
    dict(type='PackTBPSInputs'),
]
train_dataloader = dict(batch_size=30,  # x 4 GPUs = 120, as APTM
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline={{_base_.aptm_test_pipeline}}))
test_dataloader = dict(dataset=dict(pipeline={{_base_.aptm_test_pipeline}}))
optim_wrapper = dict(paramwise_cfg={{_base_.aptm_paramwise_cfg}})
load_from = 'checkpoints/aptm_pretrain_tbps.pth'
