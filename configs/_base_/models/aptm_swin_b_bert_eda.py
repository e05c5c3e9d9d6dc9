# APTM for fine-tuning: aptm_swin_b_bert.py plus ITC and ITM on the EDA view
# of each caption (the pipeline's EDACaption writes caption_eda):
# (itc + 0.8 itc_eda) + (itm + 0.8 itm_eda) + mlm.
_base_ = ['./aptm_swin_b_bert.py']
model = dict(
    heads=dict(eda=dict(type='CaptionViewHead', heads=('itc', 'itm'),
                        field='caption_eda')),
    loss_weights=dict(eda=0.8),
)
