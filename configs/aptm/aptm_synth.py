# APTM fine-tuning on the embedded SynthPEDES (CPU, minutes), from scratch:
# in-batch ITC + ITM (MLP head, hard negatives) + whole-word MLM, and ITC +
# ITM again on an EDA view of each caption (weight 0.8), with a small Swin
# (3 stages, 64x32 input -> 1 pooled + 8 patch tokens of width 128) and the
# BERT sizes of albef_synth.py. aptm_synth_pretrained.py starts it from the
# synthetic MALS-like pre-training (aptm_synth_pretrain.py).
_base_ = [
    '../_base_/models/aptm_swin_b_bert.py',
    '../_base_/datasets/synth_pedes.py',
    '../_base_/schedules/synth_cpu.py',
    '../_base_/default_runtime.py',
]

# the BERT sizes and schedule of albef_synth.py (no dropout, 16 epochs)
tiny_bert = dict(hidden_size=128, num_attention_heads=4,
                 intermediate_size=512, max_position_embeddings=64,
                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
model = dict(
    data_preprocessor=dict(
        tokenizer=dict(_delete_=True, type='SynthPEDESTokenizer')),
    image_encoder=dict(
        arch=dict(_delete_=True, embed_dims=32, depths=[2, 2, 2],
                  num_heads=[2, 4, 8]),
        img_size=(64, 32), window_sizes=(4, 4, 2), drop_path_rate=0.0),
    text_encoder=dict(config=tiny_bert, num_layers=2),
    fusion_encoder=dict(config=tiny_bert, num_layers=3),
    embed_dim=128,
    heads=dict(
        itm=dict(hidden_dim=256),
        # (itc + 0.8 itc_eda) + (itm + 0.8 itm_eda) + mlm
        eda=dict(type='CaptionViewHead', heads=('itc', 'itm'),
                 field='caption_eda')),
    loss_weights=dict(eda=0.8),
    rerank=dict(k=32),  # of 400 test images (CUHK-PEDES: 128 of 3074)
)
train_pipeline_no_eda = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale={{_base_.img_scale}}, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackTBPSInputs'),
]
# the EDA view with SynthPEDES's own synonyms (the view stays in its
# vocabulary), before packing
train_pipeline = train_pipeline_no_eda[:-1] + [
    dict(type='EDACaption', synonyms='synth_pedes'),
    dict(type='PackTBPSInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
train_cfg = dict(val_begin=8)
default_hooks = dict(logger=dict(interval=20))
optim_wrapper = dict(
    optimizer=dict(betas=(0.9, 0.98)),
    paramwise_cfg={{_base_.aptm_paramwise_cfg}})
