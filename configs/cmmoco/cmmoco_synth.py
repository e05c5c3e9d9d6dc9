# CM-MoCo (TextReID) on the embedded SynthPEDES, small enough for a CPU and
# trained from scratch: a 4-stage CLIP ModifiedResNet (one bottleneck a
# stage, width 16, last stride 1: a 4x2 map at 64x32) and a BiGRU over
# learned word vectors (no CLIP file fits SynthPEDES's vocabulary at this
# size: word_vectors='learned', documented in configs/cmmoco/README.md).
# Data, 10-epoch schedule and joint width follow clip_synth.py, so the
# runs compare directly. Losses as TextReID: momentum contrast against
# 2048-entry queues (m 0.999, tau 0.07), alignment and ID (its two
# modality terms summed: weight 2 on IDLoss's mean).
_base_ = ['../clip/clip_synth.py']

num_classes = 500  # SynthPEDES training identities (generator default)
model = dict(
    _delete_=True,
    type='MomentumContrastRetriever',
    data_preprocessor=dict(
        type='TBPSDataPreprocessor',
        tokenizer=dict(type='SynthPEDESTokenizer'),
        mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
    image_encoder=dict(type='CLIPResNetEncoder', layers=(1, 1, 1, 1),
                       width=16, heads=4, output_dim=256,
                       img_size=(64, 32), last_stride=1),
    text_encoder=dict(type='BiGRUTextEncoder', vocab_size=None,
                      embed_dim=128, hidden_dim=128,
                      word_vectors='learned'),
    embed_dim=128,
    momentum=0.999,
    moco=dict(type='CrossModalMoCoLoss', queue_size=2048,
              temperature=0.07),
    losses=dict(
        align=dict(type='AlignmentLoss', alpha=0.6, beta=0.4,
                   scale_pos=10.0, scale_neg=40.0),
        id=dict(type='IDLoss', num_classes=num_classes, in_dim=128,
                label_smoothing=0.1, normalize_weight=True, bias=False)),
    loss_weights=dict(moco=1.0, align=1.0, id=2.0),
)
