# CM-MoCo (TextReID, Han et al. 2021): CLIP ModifiedResNet-50 image encoder
# (last stage stride 1: a 24x8 map at 384x128, attention-pool position grid
# resized from 7x7), frozen CLIP word vectors -> 1-layer BiGRU (hidden 512,
# no bias) -> max-pool, both projected to 256; momentum encoders (0.999)
# with 2048-entry cross-modal queues, alignment and ID losses.
#
# Weights: the image encoder reads visual.* of OpenAI's RN50 release and the
# word vectors are CLIP ViT-B/32's text feature of every vocabulary word
# (as the authors), both straight from OpenAI's files (zoo names; URLs with
# their sha256, downloaded once into $TBPS_HOME): no conversion step.
model = dict(
    type='MomentumContrastRetriever',
    data_preprocessor=dict(
        type='TBPSDataPreprocessor',
        # a word vocabulary of the training captions (tools/
        # dataset_converters/build_word_vocab.py CONFIG writes it)
        tokenizer=dict(type='WordTokenizer', vocab_file=None,
                       max_length=100),
        mean=(122.771, 116.746, 104.094),  # OpenAI CLIP statistics (0-255)
        std=(68.501, 66.632, 70.323),
    ),
    image_encoder=dict(
        type='CLIPResNetEncoder', layers=(3, 4, 6, 3), output_dim=1024,
        heads=32, width=64, img_size=(384, 128), last_stride=1,
        clip_checkpoint='clip_rn50_openai'),
    text_encoder=dict(
        type='BiGRUTextEncoder', vocab_size=None, vocab=None,
        word_vectors='clip', clip_checkpoint='clip_vit-b32_openai',
        embed_dim=512, hidden_dim=512, num_layers=1, bias=False),
    embed_dim=256,
    momentum=0.999,
    moco=dict(type='CrossModalMoCoLoss', queue_size=2048, temperature=0.07),
    losses=dict(
        align=dict(type='AlignmentLoss', alpha=0.6, beta=0.4,
                   scale_pos=10.0, scale_neg=40.0),
        # TextReID's ID loss: unit-norm class vectors, no bias, smoothing
        # 0.1; its two modality terms are summed (weight 2 on the mean)
        id=dict(type='IDLoss', num_classes=None, in_dim=256,
                label_smoothing=0.1, normalize_weight=True, bias=False)),
    loss_weights=dict(moco=1.0, align=1.0, id=2.0),
)
