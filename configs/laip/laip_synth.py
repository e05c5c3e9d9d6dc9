# LAIP on the embedded SynthPEDES (CPU, minutes): ALBEF + fusion triplet +
# Mask Phrase Modeling + BidirAtt, trained in two stages in one run, with
# albef_synth.py's tiny model, data and schedule.
_base_ = [
    '../_base_/models/laip_vit_b16_bert.py',
    '../_base_/datasets/synth_pedes.py',
    '../_base_/schedules/synth_cpu.py',
    '../_base_/default_runtime.py',
]

# no dropout in the small BERTs trained from scratch: they learn faster
# without it and a step costs a fifth less (the quick start's budget)
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
    heads=dict(
        itc=dict(queue_size=2048),
        # BidirAtt in the middle fusion layer; the last gets no gradient
        mlm=dict(attention_layer=1),
        local=dict(embed_dim=128)),
    rerank=dict(k=32),  # of 400 test images
)

max_epochs = 16
stage2_begin = 8  # stage 1: ITC + ITM; stage 2: all losses
# each stage: one warm-up epoch from 0.1x, then cosine to 1e-5 (restarted)
param_scheduler = [
    dict(type='StagedCosineLR', stages=[0, stage2_begin], warmup=1,
         warmup_factor=0.1, eta_min=1e-5, by_epoch=True, begin=0,
         end=max_epochs, convert_to_iter_based=True),
]
# validated at epochs 12, 14 and 16: R1 climbs through stage 2's cosine
# decay, earlier checkpoints do not win (and each validation costs ~7 s)
train_cfg = dict(max_epochs=max_epochs, val_begin=12)
# stage 1: ITC + ITM only; stage 2 adds the LAIP heads
loss_stage_hook = dict(type='LossStageHook', stages=[
    dict(begin=0, loss_weights=dict(triplet=0.0, mlm=0.0, local=0.0)),
    dict(begin=stage2_begin, loss_weights=dict()),
])
custom_hooks = [loss_stage_hook]
train_dataloader = dict(dataset=dict(
    phrase_cfg=dict(cache_file='phrases.json', backend='auto')))
default_hooks = dict(logger=dict(interval=20))
# ALBEF's weight-decay exemptions: biases, LayerNorm weights, temperatures
optim_wrapper = dict(paramwise_cfg=dict(
    bias_decay_mult=0.0, norm_decay_mult=0.0,
    custom_keys={'temperature': dict(decay_mult=0.0)},
    bypass_duplicate=True))  # the MLM decoder bias is tied to its head's
