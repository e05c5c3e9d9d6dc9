# IRRA on rstp_reid: OpenAI CLIP ViT-B/16 (converted with
# tools/model_converters/clip2tbps.py), SDM + ID + IRR, IRRA's solver and
# augmentation.
_base_ = [
    '../_base_/models/irra_clip_vit_b16.py',
    '../_base_/datasets/rstp_reid.py',
    '../_base_/schedules/irra_adam_cosine.py',
    '../_base_/datasets/pipelines/reid_augment.py',
    '../_base_/default_runtime.py',
]
num_classes = 3701  # RSTPReid training identities
model = dict(losses=dict(id=dict(num_classes=num_classes)))
train_dataloader = dict(dataset=dict(pipeline=_base_.reid_train_pipeline))
load_from = 'checkpoints/clip_vit_b16_openai_tbps.pth'
