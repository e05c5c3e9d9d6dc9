# IRRA's solver: Adam (eps 1e-3, L2 weight decay 4e-5), lr 1e-5, 5x for the
# randomly initialised modules (cross-attention, cross-modal transformer,
# MLM head, ID classifier), biases 2x without weight decay; 60 epochs, 5
# linear warm-up epochs from 0.1x, cosine to 0. mmengine applies the first
# matching key, longest first, so the biases of the new modules get 5x with
# decay (IRRA: cross-module biases 2x, head biases 5x, no decay).
_base_ = ['./adamw_cosine.py']
optim_wrapper = dict(
    # torch's fused kernel: one pass per parameter, CPU and CUDA
    optimizer=dict(_delete_=True, type='Adam', lr=1e-5, betas=(0.9, 0.999),
                   eps=1e-3, weight_decay=4e-5,
                   fused=True),
    paramwise_cfg=dict(custom_keys={
        'irr.cross_attn': dict(lr_mult=5.0),
        'irr.cross_modal_transformer': dict(lr_mult=5.0),
        'irr.mlm_head': dict(lr_mult=5.0),
        'losses.id.classifier': dict(lr_mult=5.0),
        'bias': dict(lr_mult=2.0, decay_mult=0.0),
    }))
