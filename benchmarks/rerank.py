"""ITM re-ranking: batched top-k re-scoring vs a per-query loop.

Same model, same coarse similarity, same candidates. The model is
``configs/albef/albef_synth.py`` (or ``--config``) with the text / fusion
width, heads and fusion layers from the command line (default 32 wide, 2
heads, 3 fusion layers, so that it runs on a CPU in minutes) and random
weights. The counts default to the CUHK-PEDES test split: 6156 queries,
3074 gallery images, k 128, 193 image tokens per image (ViT-B/16 at
384x128), captions of 16-50 tokens. Only the re-ranking stage is timed; its
inputs are made up (random unit features for the coarse similarity, random
image tokens and caption ids), which changes no work done.

* ``loop``: ALBEF's ``evaluation()``: for every query, its k candidate
  images through ``fusion_encoder.forward`` in one batch (image keys/values
  computed per pair), at the query's own length (no padding).
* ``loop_sdpa``: the same loop with fused scaled-dot-product
  cross-attention (the kernel the batched path uses), to separate the gain
  of not repeating work from the gain of the kernel.
* ``batched``: :meth:`FusionRetriever.rerank` (see
  ``tbps/evaluation/functional/rerank.py``).

All three are timed on the first ``--queries`` queries, alternating,
``--repeats`` times (fastest kept; a shared machine is noisy). Then the
batched re-rank runs on all queries; the loops cost the same per query
whatever the query count, so their full-size time is extrapolated
linearly, while the batched path's per-query cost falls as images are
shared by more queries (a subset understates its gain). Prints the times,
the ratios and the largest absolute difference from the loop's scores
(goal: ratio >= 3, equal scores).
"""
import argparse
import time

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tbps.models.necks.fusion_encoder import additive_mask
from tbps.evaluation.functional.rerank import topk_candidates
from tbps.registry import MODELS


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--config', default='configs/albef/albef_synth.py')
    parser.add_argument('--num-queries', type=int, default=6156)
    parser.add_argument('--num-gallery', type=int, default=3074)
    parser.add_argument('--k', type=int, default=128)
    parser.add_argument('--queries', type=int, default=128,
                        help='time all methods on this many queries '
                        '(0 = all)')
    parser.add_argument('--image-tokens', type=int, default=193)
    parser.add_argument('--width', type=int, default=32,
                        help='fusion / text hidden size')
    parser.add_argument('--image-width', type=int, default=None,
                        help='image token width (default: --width)')
    parser.add_argument('--heads', type=int, default=2)
    parser.add_argument('--fusion-layers', type=int, default=3)
    parser.add_argument('--min-len', type=int, default=16)
    parser.add_argument('--max-len', type=int, default=50)
    parser.add_argument('--batch-size', type=int, default=256)
    parser.add_argument('--image-chunk', type=int, default=16)
    parser.add_argument('--repeats', type=int, default=2,
                        help='alternating timed runs; the fastest counts')
    parser.add_argument('--subset-only', action='store_true',
                        help='skip the batched re-rank of all queries (and '
                        'the extrapolation of the loops)')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--device', default='cpu')
    return parser.parse_args()


def build_model(args):
    cfg = Config.fromfile(args.config)
    width, img_width = args.width, args.image_width or args.width
    bert = dict(hidden_size=width, num_attention_heads=args.heads,
                intermediate_size=4 * width, max_position_embeddings=64)
    model = cfg.model
    model.text_encoder.config = bert
    model.text_encoder.num_layers = 1
    model.fusion_encoder.config = bert
    model.fusion_encoder.num_layers = args.fusion_layers
    model.image_encoder.arch = dict(embed_dims=img_width, num_layers=1,
                                    num_heads=args.heads,
                                    feedforward_channels=4 * img_width)
    model.rerank = dict(k=args.k, batch_size=args.batch_size,
                        image_chunk=args.image_chunk)
    torch.manual_seed(0)
    return MODELS.build(model).to(args.device).eval()


def make_inputs(model, args):
    g = torch.Generator().manual_seed(0)
    q, n = args.num_queries, args.num_gallery
    img_width = model.fusion_encoder.encoder_width
    feats = torch.nn.functional.normalize(torch.randn(q + n, 32, generator=g),
                                          dim=1)
    similarity = feats[:q] @ feats[q:].t()
    lengths = torch.randint(args.min_len, args.max_len + 1, (q, ),
                            generator=g)
    mask = (torch.arange(args.max_len) < lengths[:, None]).long()
    vocab = model.tokenizer.vocab_size
    ids = torch.randint(5, vocab, (q, args.max_len), generator=g) * mask
    image_tokens = torch.randn(n, args.image_tokens, img_width, generator=g)
    return similarity, dict(input_ids=ids, attention_mask=mask), image_tokens


@torch.no_grad()
def per_query_loop(model, similarity, text, image_tokens, k, sdpa=False):
    """ALBEF's loop: one fusion pass per query over its k candidates
    (``fusion_encoder.forward``; with ``sdpa`` the same layers with fused
    scaled-dot-product cross-attention, as the batched path uses)."""
    device = model.data_preprocessor.device
    ids = text['input_ids'].to(device)
    mask = text['attention_mask'].to(device)
    out = torch.full(similarity.shape, model.rerank_cfg['fill'])
    _, candidates = topk_candidates(similarity, k)
    fuse = fuse_sdpa if sdpa else fuse_forward
    for i in range(similarity.shape[0]):
        length = int(mask[i].sum())
        _, tokens = model.text_encoder(ids[i:i + 1, :length],
                                       mask[i:i + 1, :length])
        idx = candidates[i]
        kk = idx.numel()
        fused = fuse(model.fusion_encoder, tokens.expand(kk, -1, -1),
                     mask[i:i + 1, :length].expand(kk, -1),
                     image_tokens[idx].to(device))
        out[i, idx] = model.heads['itm'](fused)[:, 1].float().cpu()
    return out


def fuse_forward(encoder, tokens, mask, image_tokens):
    return encoder(tokens, mask, image_tokens)[0][:, 0]


def fuse_sdpa(encoder, tokens, mask, image_tokens):
    """``encoder.forward`` with SDPA cross-attention (keys/values still
    computed per pair)."""
    self_mask = additive_mask(mask, tokens.dtype)
    hidden = tokens
    for layer in encoder.layer:
        hidden = layer.attention(hidden, self_mask)[0]
        cross = layer.crossattention
        split = encoder._split_heads
        context = F.scaled_dot_product_attention(
            split(cross.self.query(hidden)),
            split(cross.self.key(image_tokens)),
            split(cross.self.value(image_tokens)), scale=cross.self.scaling)
        hidden = layer.feed_forward_chunk(
            cross.output(context.transpose(1, 2).flatten(2), hidden))
    return hidden[:, 0]


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def main():
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    init_default_scope('tbps')
    model = build_model(args)
    similarity, text, image_tokens = make_inputs(model, args)
    n = min(args.queries or args.num_queries, args.num_queries)
    sub_sim = similarity[:n]
    sub_text = {key: v[:n] for key, v in text.items()}
    k = args.k
    print(f'{args.num_queries} queries x {args.num_gallery} gallery images, '
          f'k {k}, {args.image_tokens} image tokens, caption lengths '
          f'{args.min_len}-{args.max_len}; width {args.width}, {args.heads} '
          f'heads, {args.fusion_layers} fusion layers; '
          f'{torch.get_num_threads()} threads on {args.device}')
    # warm-up
    model.rerank(similarity[:4], {key: v[:4] for key, v in text.items()},
                 image_tokens)
    per_query_loop(model, similarity[:2], text, image_tokens, k)

    # Alternate the methods so that they share the machine's load; keep
    # each one's fastest repeat.
    methods = dict(
        loop=lambda: per_query_loop(model, sub_sim, sub_text, image_tokens,
                                    k),
        loop_sdpa=lambda: per_query_loop(model, sub_sim, sub_text,
                                         image_tokens, k, sdpa=True),
        batched=lambda: model.rerank(sub_sim, sub_text, image_tokens).cpu())
    times = {name: [] for name in methods}
    scores = {}
    for _ in range(args.repeats):
        for name, fn in methods.items():
            scores[name], t = timed(fn)
            times[name].append(t)
    best = {name: min(t) for name, t in times.items()}
    pairs = n * min(k, args.num_gallery)
    print(f'same {n} queries ({pairs} pairs), best of {args.repeats}:')
    labels = dict(loop='per-query loop (fusion_encoder.forward)',
                  loop_sdpa='per-query loop, SDPA cross-attention',
                  batched='batched FusionRetriever.rerank')
    for name, t in best.items():
        diff = (scores[name] - scores['loop']).abs().max().item()
        print(f'  {labels[name]:42s} {t:8.2f} s  {t / n * 1e3:8.2f} '
              f'ms/query  max |score - loop score| {diff:.1e}')
    print(f'  ratio loop / batched: {best["loop"] / best["batched"]:.2f}x, '
          f'loop with SDPA / batched: '
          f'{best["loop_sdpa"] / best["batched"]:.2f}x (goal >= 3x)')
    if not args.subset_only and n < args.num_queries:
        full, t_full = timed(model.rerank, similarity, text, image_tokens)
        diff = (full[:n].cpu() - scores['loop']).abs().max().item()
        print(f'all {args.num_queries} queries: batched {t_full:.1f} s '
              f'({t_full / args.num_queries * 1e3:.2f} ms/query, rows '
              f'0-{n - 1}'
              f' differ from the loop by at most {diff:.1e}); the loops are '
              'per query, so their time is linear in the queries:')
        for name in ('loop', 'loop_sdpa'):
            est = best[name] / n * args.num_queries
            print(f'  {labels[name]:42s} ~{est:8.1f} s  '
                  f'ratio {est / t_full:.2f}x')


if __name__ == '__main__':
    main()
