# CLIP dual encoder (IRRA / CLIP baseline): OpenAI CLIP ViT-B/16 image
# encoder at 384x128 (24x8 patches) and CLIP's 12-layer text transformer,
# 512-d joint space, InfoNCE with temperature 0.02.
#
# OpenAI weights: the method configs set
#     load_from = 'checkpoints/clip_vit_b16_openai_tbps.pth'
# (a `load_from` here would clash with default_runtime.py's among the
# `_base_` files), made by
#     python tools/model_converters/clip2tbps.py
# which downloads ViT-B-16.pt (sha256 checked), maps OpenAI's keys onto
# image_encoder / text_encoder, transposes visual.proj / text_projection into
# image_proj / text_proj (zero biases) and resizes the 14x14 position grid to
# 24x8 (CLIPVisionEncoder also resizes a square grid on load).
model = dict(
    type='DualEncoderRetriever',
    data_preprocessor=dict(
        type='TBPSDataPreprocessor',
        tokenizer=dict(type='CLIPTokenizer', context_length=77),
        mean=(122.771, 116.746, 104.094),  # OpenAI CLIP statistics (0-255)
        std=(68.501, 66.632, 70.323),
    ),
    image_encoder=dict(
        type='CLIPVisionEncoder',
        width=768,
        layers=12,
        heads=12,
        patch_size=16,
        img_size=(384, 128),
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

# As CLIP's training: no weight decay on biases, LayerNorm gains and the
# learnable temperature (decoupled decay would pull log(1/tau) towards 0,
# i.e. tau towards 1). The method configs set
#     optim_wrapper = dict(paramwise_cfg={{_base_.clip_paramwise_cfg}})
clip_paramwise_cfg = dict(
    bias_decay_mult=0.0, norm_decay_mult=0.0,
    custom_keys={'temperature': dict(decay_mult=0.0),
                 'in_proj_bias': dict(decay_mult=0.0)})
