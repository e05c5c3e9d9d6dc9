# CM-MoCo (TextReID) on cuhk_pedes: CLIP RN50 + CLIP ViT-B/32 word vectors
# and BiGRU, TextReID's solver and augmentation (flip, pad 10 + crop,
# random erasing), batch 128 = 32 identities x 4 pairs. Before the first
# run, build the word vocabulary of the training captions once:
#     python tools/dataset_converters/build_word_vocab.py \
#         configs/cmmoco/cmmoco_cuhk.py
# The model is selected on the validation split (the authors pick on test).
_base_ = [
    '../_base_/models/cmmoco_rn50_bigru.py',
    '../_base_/datasets/cuhk_pedes.py',
    '../_base_/schedules/cmmoco_adam_step.py',
    '../_base_/datasets/pipelines/reid_augment.py',
    '../_base_/default_runtime.py',
]
num_classes = 11003  # CUHK-PEDES training identities
model = dict(
    data_preprocessor=dict(tokenizer=dict(
        vocab_file='data/CUHK-PEDES/word_vocab.txt')),
    losses=dict(id=dict(num_classes=num_classes)))
train_dataloader = dict(
    batch_size=128,
    sampler=dict(_delete_=True, type='IdentityBalancedSampler',
                 num_instances=4, shuffle=True),
    dataset=dict(pipeline=_base_.reid_train_pipeline))
