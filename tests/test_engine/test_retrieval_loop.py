"""Runner.test / val with RetrievalTestLoop on a tiny ALBEF: the reported
metrics are those of FusionRetriever.rerank on the test split, computed
here outside the Runner."""
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from tbps.evaluation.functional import rank_metrics


def tiny_albef(root, work_dir, k=8):
    cfg = Config.fromfile('configs/albef/albef_synth.py')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = root
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
        cfg[loader].batch_size = 5  # batches mix images and captions
    cfg.model.image_encoder.arch.num_layers = 1
    cfg.model.text_encoder.num_layers = 1
    cfg.model.rerank = dict(k=k, batch_size=16, image_chunk=4)
    cfg.work_dir = work_dir
    cfg.default_hooks.checkpoint.save_best = None
    cfg.log_level = 'WARNING'
    return cfg


@torch.no_grad()
def rerank_outside_runner(model, dataloader):
    """Gallery tokens and captions in dataset order, coarse similarity,
    model.rerank on caption strings, rank metrics."""
    model.eval()
    images, captions = {}, {}
    for batch in dataloader:
        data = model.data_preprocessor(batch, False)
        inputs, samples = data['inputs'], data['data_samples']
        if inputs['images'] is not None:
            feat = model.extract_image_feat(inputs['images'])
            for row, i in enumerate(inputs['image_index'].tolist()):
                images[samples[i].sample_idx] = (
                    samples[i].pid, feat['global'][row], feat['tokens'][row])
        for i in inputs['text_index'].tolist():
            captions[samples[i].sample_idx] = (samples[i].pid,
                                               samples[i].caption)
    gallery = [images[i] for i in sorted(images)]
    queries = [captions[i] for i in sorted(captions)]
    image_feat = torch.nn.functional.normalize(
        torch.stack([g[1] for g in gallery]), dim=-1)
    text_feat = model.encode_text([q[1] for q in queries])
    coarse = text_feat @ image_feat.t()
    scores = model.rerank(coarse, [q[1] for q in queries],
                          torch.stack([g[2] for g in gallery]))
    gallery_pids = torch.tensor([int(g[0]) for g in gallery])
    query_pids = torch.tensor([int(q[0]) for q in queries])
    return (rank_metrics(scores, query_pids, gallery_pids),
            rank_metrics(coarse, query_pids, gallery_pids))


def test_runner_test_reports_reranked_metrics(tiny_synth_root, tmp_path):
    cfg = tiny_albef(tiny_synth_root, str(tmp_path))
    runner = Runner.from_cfg(cfg)
    model = runner.model
    # an ITM head that actually disagrees with the (random) cosine order
    with torch.no_grad():
        model.heads.itm.fc.weight.normal_(0, 3.0)
    metrics = runner.test()
    expected, coarse = rerank_outside_runner(model, runner.test_dataloader)
    assert set(metrics) == {'R1', 'R5', 'R10', 'mAP', 'mINP'}
    for key, value in expected.items():
        assert abs(metrics[key] - value) < 1e-6, (key, metrics, expected)
    assert metrics != coarse  # re-ranking changed the ranking

    # k = 0: the same loop ranks by cosine similarity only
    model.rerank_cfg['k'] = 0
    metrics = runner.test()
    for key, value in coarse.items():
        assert abs(metrics[key] - value) < 1e-6, (key, metrics, coarse)
