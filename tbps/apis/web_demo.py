"""A local web page to search a photo folder by sentence.

Dependency-free (the standard library's HTTP server): a text box, a top-k
slider, the ranked photos with their scores and, for fusion models
(ALBEF, LAIP), the attention map of a phrase over a chosen photo. Only the
gallery's photos are served: by their index in the search results, or by a
path inside the gallery folder (anything resolving outside it is refused).
"""
import html
import io
import json
import os.path as osp
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qs, unquote, urlparse

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>tbps search</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }}
#results {{ display: flex; flex-wrap: wrap; gap: 10px; margin-top: 1em; }}
figure {{ margin: 0; text-align: center; font-size: 12px; }}
figure img {{ width: 96px; height: 192px; object-fit: cover;
             border: 2px solid #ccc; }}
</style></head>
<body>
<h3>Search {num} photos by sentence <small>({model})</small></h3>
<form id="form">
  <input id="query" size="70" placeholder="a woman in a red coat ...">
  top <input id="topk" type="range" min="1" max="50" value="10">
  <span id="topk-value">10</span>
  <button id="search" type="submit">Search</button>
  {phrase_box}
</form>
<div id="status"></div>
<div id="results"></div>
<script>
const topk = document.getElementById('topk');
topk.oninput = () =>
  document.getElementById('topk-value').textContent = topk.value;
document.getElementById('form').onsubmit = async (event) => {{
  event.preventDefault();
  const q = document.getElementById('query').value;
  const status = document.getElementById('status');
  status.textContent = 'searching...';
  const reply = await fetch('/api/search?q=' + encodeURIComponent(q) +
                            '&k=' + topk.value);
  const data = await reply.json();
  const box = document.getElementById('results');
  box.innerHTML = '';
  const phraseBox = document.getElementById('phrase');
  for (const r of data.results) {{
    const fig = document.createElement('figure');
    fig.className = 'result';
    fig.dataset.score = r.score;
    const img = document.createElement('img');
    img.src = '/image/' + r.index;
    img.title = r.path;
    if (phraseBox) img.onclick = () => {{
      img.src = '/api/attention?image=' + r.index + '&phrase=' +
                encodeURIComponent(phraseBox.value || q);
    }};
    const cap = document.createElement('figcaption');
    cap.textContent = r.rank + ': ' + r.score.toFixed(3);
    fig.appendChild(img); fig.appendChild(cap); box.appendChild(fig);
  }}
  status.textContent = data.results.length + ' results';
  status.dataset.done = '1';
}};
</script></body></html>
"""

PHRASE_BOX = ('<br>attention of the phrase <input id="phrase" size="30" '
              'placeholder="a red coat"> (click a photo)')


class DemoServer:
    """Serve a :class:`~tbps.apis.TextPersonSearcher` on ``host:port``
    (``port=0``: a free one). ``start()`` runs it in a thread, ``stop()``
    ends it; ``serve_forever()`` blocks."""

    def __init__(self, searcher, host: str = '127.0.0.1', port: int = 7860,
                 gallery_root: Optional[str] = None, title: str = ''):
        self.searcher = searcher
        self.root = osp.realpath(gallery_root) if gallery_root else None
        self.photos = set(map(osp.realpath, searcher.paths))
        self.lock = threading.Lock()  # one model call at a time
        self.title = title
        self.fusion = hasattr(searcher.model, 'fusion_encoder')
        self.local_only = host in ('127.0.0.1', 'localhost')
        self.httpd = ThreadingHTTPServer((host, port), self._handler())
        self.thread = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f'http://{host}:{port}'

    def start(self) -> 'DemoServer':
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    # -- request handling -------------------------------------------------
    def page(self) -> bytes:
        return PAGE.format(
            num=len(self.searcher.paths), model=html.escape(self.title),
            phrase_box=PHRASE_BOX if self.fusion else '').encode()

    def search(self, query: str, k: int) -> bytes:
        with self.lock:
            results = self.searcher.search(query, topk=k) if query else []
        index = {p: i for i, p in enumerate(self.searcher.paths)}
        return json.dumps(dict(query=query, results=[
            dict(rank=r + 1, index=index[p], score=s,
                 path=osp.basename(p)) for r, (p, s) in enumerate(results)
        ])).encode()

    def attention_png(self, image: int, phrase: str) -> bytes:
        import numpy as np
        from mmengine.dataset import pseudo_collate
        from PIL import Image

        from tbps.visualization import TBPSVisualizer, phrase_attention
        path = self.searcher.paths[image]
        model = self.searcher.model
        with self.lock:
            data = model.data_preprocessor(pseudo_collate(
                [self.searcher._load_image(path)]), False)
            maps, _ = phrase_attention(model, data['inputs']['images'],
                                       phrase)
        name = 'bidirectional' if 'bidirectional' in maps else 'forward'
        rgb = np.asarray(Image.open(path).convert('RGB'))
        picture = TBPSVisualizer.get_instance('tbps_demo').draw_attention(
            rgb, {name: maps[name].numpy()})
        tile = TBPSVisualizer.tile[0] + 12
        out = io.BytesIO()
        Image.fromarray(picture[:, tile:]).save(out, format='PNG')
        return out.getvalue()

    def gallery_file(self, relpath: str) -> Optional[str]:
        """The file for ``/gallery/<relpath>`` if it lies inside the gallery
        folder and is one of its photos, else None."""
        if self.root is None:
            return None
        path = osp.realpath(osp.join(self.root, relpath))
        if not path.startswith(self.root + osp.sep):
            return None
        return path if path in self.photos else None

    def _handler(self):
        demo = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, body: bytes, kind: str,
                      status=HTTPStatus.OK) -> None:
                self.send_response(status)
                self.send_header('Content-Type', kind)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def refuse(self, status, message: str) -> None:
                self.reply(message.encode(), 'text/plain', status)

            def send_file(self, path: str) -> None:
                kind = 'image/png' if path.lower().endswith('.png') \
                    else 'image/jpeg'
                with open(path, 'rb') as f:
                    self.reply(f.read(), kind)

            def do_GET(self):  # noqa: N802 (http.server's name)
                host = (self.headers.get('Host') or '').rsplit(':', 1)[0]
                if demo.local_only and host not in ('127.0.0.1',
                                                    'localhost', '[::1]'):
                    # a page of another site resolving to 127.0.0.1 (DNS
                    # rebinding) does not get the gallery
                    return self.refuse(HTTPStatus.FORBIDDEN, 'bad Host')
                url = urlparse(self.path)
                query = parse_qs(url.query)
                path = unquote(url.path)
                try:
                    if path == '/':
                        return self.reply(demo.page(), 'text/html')
                    if path == '/api/search':
                        k = max(1, min(int(query.get('k', ['10'])[0]), 100))
                        return self.reply(demo.search(
                            query.get('q', [''])[0], k), 'application/json')
                    if path.startswith('/image/'):
                        index = int(path[len('/image/'):])
                        if not 0 <= index < len(demo.searcher.paths):
                            return self.refuse(HTTPStatus.NOT_FOUND,
                                               'no such image')
                        return self.send_file(demo.searcher.paths[index])
                    if path.startswith('/gallery/'):
                        file = demo.gallery_file(path[len('/gallery/'):])
                        if file is None:
                            return self.refuse(HTTPStatus.FORBIDDEN,
                                               'outside the gallery')
                        return self.send_file(file)
                    if path == '/api/attention' and demo.fusion:
                        index = int(query['image'][0])
                        return self.reply(demo.attention_png(
                            index, query.get('phrase', [''])[0] or 'person'),
                            'image/png')
                except (ValueError, KeyError, IndexError) as err:
                    return self.refuse(HTTPStatus.BAD_REQUEST, str(err))
                except Exception as err:  # a photo removed, a model error
                    return self.refuse(HTTPStatus.INTERNAL_SERVER_ERROR,
                                       f'{type(err).__name__}: {err}')
                return self.refuse(HTTPStatus.NOT_FOUND, 'not found')

        return Handler
