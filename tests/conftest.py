"""Shared fixtures: a tiny SynthPEDES generated once per test session, and
the helpers that run the tools in child processes (``run_script``,
``run_group``, ``free_port``) and checks on spawned gloo ranks
(``run_gloo``). Test modules get the helpers through these fixtures or
import them from here; no test module imports another."""
import os
import signal
import socket
import subprocess
import sys

import pytest

os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY_SYNTH = dict(num_train_ids=12, num_val_ids=6, num_test_ids=6,
                  views_per_id=2)


@pytest.fixture(scope='session')
def tiny_synth_root(tmp_path_factory):
    """A small SynthPEDES (seed 0) in CUHK-PEDES layout."""
    from tbps.datasets.synth import make_synth_pedes
    root = tmp_path_factory.mktemp('synth') / 'synth_pedes'
    make_synth_pedes(str(root), seed=0, num_workers=1, **TINY_SYNTH)
    return str(root)


def data_root_options(root):
    """``--cfg-options`` pointing every dataloader of a config at ``root``,
    without worker processes."""
    opts = []
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts += [f'{loader}.dataset.data_root={root}',
                 f'{loader}.num_workers=0',
                 f'{loader}.persistent_workers=False']
    return opts


@pytest.fixture(scope='session')
def tiny_cli_options():
    """``--cfg-options`` for a seconds-long CLI run of a synth config on a
    given data root: no workers, batch 8, one-layer encoders (the CLIP
    synth config's CLIPVisionEncoder / CLIPTextEncoder)."""
    def options(root):
        return data_root_options(root) + ['train_dataloader.batch_size=8',
                       'train_cfg.val_interval=1', 'train_cfg.val_begin=1',
                       'model.image_encoder.layers=1',
                       'model.text_encoder.layers=1']
    return options


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_script(args, cwd=REPO_ROOT):
    """``python ARGS`` (a script of the repository and its arguments) in
    ``cwd``; asserts exit status 0 and returns stdout + stderr."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, HF_HUB_OFFLINE='1')
    proc = subprocess.run([sys.executable] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def run_group(args, cwd, timeout=240):
    """Run in its own process group; on timeout kill the whole group (the
    torchrun agent and its workers) and fail: a hang is a failure."""
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, HF_HUB_OFFLINE='1',
               OMP_NUM_THREADS='1')
    proc = subprocess.Popen([sys.executable] + args, cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f'timed out after {timeout} s (hang?):\n{out[-4000:]}')
    assert proc.returncode == 0, out[-6000:]
    return out


def _gloo_rank(rank, checks, world, store, out_dir):
    """One spawned rank of :func:`run_gloo`: join the gloo group through a
    FileStore, run ``checks(rank, out_dir)``, save what it returns to
    ``out_dir/rank{rank}.pt``. An exception ends the rank; spawn hands its
    traceback to :func:`run_gloo`'s ``join``, which raises it."""
    from datetime import timedelta

    import torch
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{store}',
                            rank=rank, world_size=world,
                            timeout=timedelta(seconds=60))
    torch.save(checks(rank, out_dir), os.path.join(out_dir, f'rank{rank}.pt'))
    # barrier, tear down and exit at once, as tools/train.py does: torch
    # 2.14's interpreter shutdown aborted a rank now and then after the
    # group was destroyed (3 of 40 spawned pairs with a TCPStore, 1 of 79
    # with a FileStore, 2 busy cores)
    from tbps.utils.dist_env import finish_distributed
    finish_distributed()


def run_gloo(checks, out_dir, world=2, timeout=120):
    """Run ``checks(rank, out_dir) -> dict`` on ``world`` spawned processes
    joined in a gloo group -> the list of their dicts, in rank order.

    The group meets through a FileStore in ``out_dir`` (no port to race
    for). ``checks`` must be a module-level function (spawn pickles it by
    name).
    A rank that does not finish in ``timeout`` s fails the test."""
    import time

    import torch
    import torch.multiprocessing as mp
    store = os.path.join(out_dir, 'gloo_store')
    ctx = mp.start_processes(_gloo_rank,
                             args=(checks, world, store, out_dir),
                             nprocs=world, join=False, start_method='spawn')
    deadline = time.monotonic() + timeout
    try:
        while not ctx.join(timeout=1):
            if time.monotonic() > deadline:
                pytest.fail(f'distributed workers did not finish in '
                            f'{timeout} s')
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.kill()
    return [torch.load(os.path.join(out_dir, f'rank{r}.pt'),
                       weights_only=False) for r in range(world)]


@pytest.fixture(name='free_port', scope='session')
def free_port_fixture():
    """:func:`free_port`: call it for a port."""
    return free_port


@pytest.fixture(name='run_script', scope='session')
def run_script_fixture():
    """:func:`run_script`: ``run_script([script, *args], cwd=REPO_ROOT)``
    (600 s limit) -> its output."""
    return run_script


@pytest.fixture(name='run_group', scope='session')
def run_group_fixture():
    """:func:`run_group`: ``run_group([*python_args], cwd, timeout=240)``
    in its own process group (torchrun) -> its output."""
    return run_group


@pytest.fixture(autouse=True)
def _tbps_scope():
    from mmengine.registry import init_default_scope
    init_default_scope('tbps')
    yield


def tiny_fusion_model_cfg(config='configs/laip/laip_synth.py', **overrides):
    """The model config of a fusion (ALBEF/LAIP) synth config shrunk to
    width 32 and one layer, with ``model.KEY=value`` overrides."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    model = cfg.model
    model.image_encoder.arch.num_layers = 1
    model.image_encoder.arch.embed_dims = 32
    model.image_encoder.arch.feedforward_channels = 64
    for enc in (model.text_encoder, model.fusion_encoder):
        enc.config.hidden_size = 32
        enc.config.intermediate_size = 64
    model.text_encoder.num_layers = 1
    model.embed_dim = 16
    model.heads.itc.queue_size = 8
    if 'local' in model.heads:
        model.heads.local.embed_dim = 16
    cfg.merge_from_dict({f'model.{k}': v for k, v in overrides.items()})
    return cfg.model


@pytest.fixture(scope='session')
def tiny_cfg():
    """:func:`tiny_fusion_model_cfg`, for tests of the fusion models."""
    return tiny_fusion_model_cfg


@pytest.fixture
def plugin_package(tmp_path, monkeypatch):
    """``write(name, code, registered)``: a third-party package ``name``
    with ``code`` as its ``__init__``, importable for the test; afterwards
    the module and the ``registered`` MODELS names are removed again."""
    import sys
    created = []

    def write(name, code, registered=()):
        pkg = tmp_path / name
        pkg.mkdir()
        (pkg / '__init__.py').write_text(code)
        monkeypatch.syspath_prepend(str(tmp_path))
        created.append((name, tuple(registered)))
        return tmp_path

    yield write
    from tbps.registry import MODELS
    for name, registered in created:
        sys.modules.pop(name, None)
        for cls in registered:
            MODELS.module_dict.pop(cls, None)


def _handler_class():
    import http.server

    class Handler(http.server.SimpleHTTPRequestHandler):
        """Serves files quietly; a file listed in ``<root>/TRUNCATE`` is
        announced whole but only half of it is sent (a broken transfer)."""

        def log_message(self, *args):
            pass

        def copyfile(self, source, outputfile):
            marker = os.path.join(self.directory, 'TRUNCATE')
            names = open(marker).read().split() if os.path.isfile(marker) \
                else []
            if os.path.basename(self.path) in names:
                data = source.read()
                outputfile.write(data[:len(data) // 2])
                return
            super().copyfile(source, outputfile)

    return Handler


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """``(root, base_url)``: a local HTTP server on 127.0.0.1 serving the
    folder ``root`` (proxies off; TORCH_HOME and TBPS_HOME in tmp_path)."""
    import functools
    import http.server
    import threading
    for var in ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY',
                'all_proxy', 'ALL_PROXY'):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setenv('TBPS_HOME', str(tmp_path / 'tbps_home'))
    root = tmp_path / 'www'
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0),
        functools.partial(_handler_class(), directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _load_tool(relpath):
    """Import a script of the repository (tools/..., benchmarks/...) as a
    module."""
    import importlib.util
    path = os.path.join(REPO_ROOT, relpath)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def load_tool():
    """``load_tool('tools/misc/publish_model.py')`` -> the script as a
    module."""
    return _load_tool


@pytest.fixture
def tiny_aga_files(tiny_synth_root, tiny_cfg, tmp_path):
    """``(config, checkpoint)`` paths: ``configs/aga/aga_synth.py`` with the
    tiny fusion model on the tiny SynthPEDES, and its random weights
    (seed 0)."""
    import torch
    from mmengine.config import Config

    from tbps.registry import MODELS
    cfg = Config.fromfile('configs/aga/aga_synth.py')
    cfg.model = tiny_cfg('configs/aga/aga_synth.py')
    for loader in ('train_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = tiny_synth_root
    cfg.train_dataloader.batch_size = 8
    config = tmp_path / 'aga_tiny.py'
    cfg.dump(str(config))
    torch.manual_seed(0)
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict()},
               str(checkpoint))
    return str(config), str(checkpoint)
