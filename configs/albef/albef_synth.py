# ALBEF (ITC with momentum queues + ITM with hard negatives) on the embedded
# SynthPEDES, small enough for a CPU. Same model family as LAIP, no local
# alignment: the baseline LAIP is compared with.
_base_ = [
    '../_base_/models/albef_vit_b16_bert.py',
    '../_base_/datasets/synth_pedes.py',
    '../_base_/schedules/synth_cpu.py',
    '../_base_/default_runtime.py',
]

# no dropout in the small BERTs trained from scratch (as laip_synth.py:
# they learn faster without it and a step costs a fifth less)
tiny_bert = dict(hidden_size=128, num_attention_heads=4,
                 intermediate_size=512, max_position_embeddings=64,
                 hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
model = dict(
    data_preprocessor=dict(
        tokenizer=dict(_delete_=True, type='SynthPEDESTokenizer'),
        mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
    image_encoder=dict(
        arch=dict(_delete_=True, embed_dims=128, num_layers=4, num_heads=4,
                  feedforward_channels=512),
        img_size=(64, 32), patch_size=8, drop_path_rate=0.0),
    text_encoder=dict(name_or_path=None, config=tiny_bert, num_layers=2,
                      vocab_size=None),
    fusion_encoder=dict(name_or_path=None, config=tiny_bert, num_layers=3),
    embed_dim=128,
    heads=dict(itc=dict(queue_size=2048)),
    rerank=dict(k=32),  # of 400 test images (CUHK-PEDES: 128 of 3074)
)
# 16 epochs (synth_cpu.py), as laip_synth.py's 8 + 8, validated from 8
train_cfg = dict(val_begin=8)
default_hooks = dict(logger=dict(interval=20))
# ALBEF's weight-decay exemptions: biases, LayerNorm weights, temperatures
optim_wrapper = dict(paramwise_cfg=dict(
    bias_decay_mult=0.0, norm_decay_mult=0.0,
    custom_keys={'temperature': dict(decay_mult=0.0)},
    bypass_duplicate=True))  # the MLM decoder bias is tied to its head's
