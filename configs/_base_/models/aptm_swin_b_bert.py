# APTM: Swin-B (384x128, windows 8/8/8/4, drop path 0.1; 1 pooled + 48
# patch tokens of width 1024) + BERT-base layers 0-5 (text) and 6-11
# (fusion, cross-attention to width 1024), 256-d projections, in-batch ITC
# with identity positives (no momentum encoders, no queues), ITM through an
# MLP head with one hard negative each way, whole-word MLM (mask probability
# 0.25, at most 10 words). Pre-training configs add the attribute-prompt
# head ('attr'); fine-tuning configs add the EDA-view head ('eda').
bert = 'bert-base-uncased'
model = dict(
    type='FusionRetriever',
    data_preprocessor=dict(
        type='TBPSDataPreprocessor',
        tokenizer=dict(type='BertTokenizer', name_or_path=bert,
                       max_length=56),
        mean=(123.675, 116.28, 103.53),  # ImageNet statistics (Swin), 0-255
        std=(58.395, 57.12, 57.375),
    ),
    image_encoder=dict(
        type='SwinImageEncoder', arch='base', img_size=(384, 128),
        window_sizes=(8, 8, 8, 4), drop_path_rate=0.1),
    text_encoder=dict(type='BertTextEncoder', config=dict(), num_layers=6,
                      vocab_size=None),
    fusion_encoder=dict(type='BertFusionEncoder', config=dict(),
                        num_layers=6, encoder_width=None),
    embed_dim=256,
    momentum=None,
    heads=dict(
        itc=dict(type='InBatchITCHead',
                 loss=dict(type='InfoNCELoss', temperature=0.07,
                           use_pids=True)),
        itm=dict(type='ITMHead', hidden_dim=1536),
        mlm=dict(type='MaskedTokenHead',
                 masker=dict(type='RandomWordMasker', mask_prob=0.25,
                             max_masks=10, whole_word=True)),
    ),
    # top-128 by ITC re-scored: min-max(ITM logit) + 0.002 min-max(ITC)
    rerank=dict(k=128, head='itm', batch_size=256, image_chunk=16,
                score='itm+sim', sim_weight=0.002),
)
# APTM's optimizer: AdamW (0.9, 0.98), no decay on biases and norms, 2x lr
# for Swin stages 2-3, BERT layers 4, 5, 10, 11 (text 4, 5; fusion 4, 5),
# the projections and the heads.
aptm_paramwise_cfg = dict(
    bias_decay_mult=0.0, norm_decay_mult=0.0, bypass_duplicate=True,
    custom_keys={
        'temperature': dict(decay_mult=0.0),
        'image_encoder.backbone.stages.2.': dict(lr_mult=2.0),
        'image_encoder.backbone.stages.3.': dict(lr_mult=2.0),
        'text_encoder.bert.encoder.layer.4.': dict(lr_mult=2.0),
        'text_encoder.bert.encoder.layer.5.': dict(lr_mult=2.0),
        'fusion_encoder.layer.4.': dict(lr_mult=2.0),
        'fusion_encoder.layer.5.': dict(lr_mult=2.0),
        'image_proj.': dict(lr_mult=2.0),
        'text_proj.': dict(lr_mult=2.0),
        'heads.itm.': dict(lr_mult=2.0),
        'heads.mlm.': dict(lr_mult=2.0),
    })
find_unused_parameters = True
