# ALBEF: ViT-B/16 (384x128) + BERT-base layers 0-5 (text) and 6-11 (fusion
# with cross-attention), 256-d ITC projections, momentum encoders and queues.
bert = 'bert-base-uncased'
model = dict(
    type='FusionRetriever',
    data_preprocessor=dict(
        type='TBPSDataPreprocessor',
        tokenizer=dict(type='BertTokenizer', name_or_path=bert,
                       max_length=50),
        mean=(122.771, 116.746, 104.094),  # ALBEF (CLIP) statistics, 0-255
        std=(68.501, 66.632, 70.323),
    ),
    image_encoder=dict(
        type='ViTImageEncoder', arch='b', img_size=(384, 128), patch_size=16,
        drop_path_rate=0.1, norm_cfg=dict(type='LN', eps=1e-6)),
    # BertConfig() defaults are bert-base-uncased's; weights come from the
    # converted ALBEF checkpoint (load_from), so no hub access is needed.
    text_encoder=dict(type='BertTextEncoder', config=dict(), num_layers=6,
                      vocab_size=None),
    fusion_encoder=dict(type='BertFusionEncoder', config=dict(),
                        num_layers=6, encoder_width=None),
    embed_dim=256,
    momentum=0.995,
    heads=dict(
        itc=dict(type='MomentumITCHead', queue_size=65536, temperature=0.07,
                 alpha=0.4),
        itm=dict(type='ITMHead'),
    ),
    # Val/test: each query's 128 best images by cosine re-scored by the
    # fusion encoder + ITM head; score 'itm' = the ITM logit (ALBEF).
    rerank=dict(k=128, head='itm', batch_size=256, image_chunk=16,
                score='itm'),
)
# Heads switched off in a training stage leave parameters unused.
find_unused_parameters = True
