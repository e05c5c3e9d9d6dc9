# CLIP-style dual encoder: ViT-B/16 image encoder at 384x128 (24x8 patches)
# and CLIP's 12-layer text transformer, 512-d joint space, InfoNCE.
model = dict(
    type='DualEncoderRetriever',
    data_preprocessor=dict(
        type='TBPSDataPreprocessor',
        tokenizer=dict(type='CLIPTokenizer', context_length=77),
        mean=(122.771, 116.746, 104.094),  # OpenAI CLIP statistics (0-255)
        std=(68.501, 66.632, 70.323),
    ),
    image_encoder=dict(
        type='ViTImageEncoder',
        arch='b',
        img_size=(384, 128),
        patch_size=16,
        pre_norm=True,  # CLIP's ln_pre
        drop_path_rate=0.1,
    ),
    text_encoder=dict(
        type='CLIPTextEncoder',
        vocab_size=49408,
        context_length=77,
        width=512,
        layers=12,
        heads=8,
    ),
    embed_dim=512,
    losses=dict(itc=dict(type='InfoNCELoss', temperature=0.02)),
)
