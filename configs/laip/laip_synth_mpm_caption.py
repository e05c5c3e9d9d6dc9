# Control: MPM's words (one word of each noun phrase, a copy per phrase)
# masked in the whole caption instead of the phrase alone; BidirAtt masks
# the phrases in a pass of its own, as in laip_synth_mlm.py. Against
# laip_synth.py it changes only what the fusion encoder reads for the MPM
# loss; against laip_synth_mlm.py only which words are masked.
_base_ = ['./laip_synth.py']
model = dict(heads=dict(
    mlm=dict(masker=dict(context='caption')),
    local=dict(phrase_masker=dict(type='PhraseMasker'))))
