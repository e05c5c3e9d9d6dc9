"""The local web demo: its JSON API, that nothing outside the gallery is
served, and an end-to-end search in a real headless Chromium (skipped
where chromium/chromedriver are not installed)."""
import http.client
import json
import os
import shutil
import urllib.request

import pytest

from tbps.apis.searcher import find_images

QUERY = 'a woman in a green coat with a red backpack'
TINY = ['model.image_encoder.layers=1', 'model.text_encoder.layers=1']


@pytest.fixture()
def demo(tiny_synth_root, tmp_path, load_tool):
    gallery = tmp_path / 'gallery'
    gallery.mkdir()
    for src in find_images(os.path.join(tiny_synth_root, 'imgs',
                                        'test'))[:12]:
        shutil.copy(src, gallery)
    (tmp_path / 'secret.txt').write_text('not for you')
    tool = load_tool('tools/demo/web_demo.py')
    args = tool.parse_args(['configs/clip/clip_synth.py', 'none',
                            '--gallery', str(gallery), '--port', '0',
                            '--cfg-options'] + TINY)
    server = tool.build_server(args).start()
    try:
        yield server
    finally:
        server.stop()


def _get(server, path):
    host, port = server.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request('GET', path)  # sent as is: no client-side normalisation
    response = conn.getresponse()
    return response.status, response.read()


def test_binds_localhost_and_searches(demo):
    assert demo.httpd.server_address[0] == '127.0.0.1'
    status, body = _get(demo, '/api/search?q=a+red+coat&k=5')
    results = json.loads(body)['results']
    assert status == 200 and len(results) == 5
    scores = [r['score'] for r in results]
    assert scores == sorted(scores, reverse=True)
    expected = demo.searcher.search('a red coat', topk=5)
    assert [demo.searcher.paths[r['index']] for r in results] == \
        [p for p, _ in expected]
    status, body = _get(demo, f"/image/{results[0]['index']}")
    assert status == 200 and body[:2] == b'\xff\xd8'  # a JPEG
    name = os.path.basename(demo.searcher.paths[0])
    assert _get(demo, f'/gallery/{name}')[0] == 200


@pytest.mark.parametrize('path', [
    '/gallery/../secret.txt', '/gallery/%2e%2e/secret.txt',
    '/gallery/../../etc/passwd', '/gallery//etc/passwd', '/image/999',
    '/image/-1'])
def test_nothing_outside_the_gallery(demo, path):
    status, body = _get(demo, path)
    assert status in (403, 404), path
    assert b'not for you' not in body and b'root:' not in body


def _chromium():
    return shutil.which('chromium') and shutil.which('chromedriver')


@pytest.mark.slow
@pytest.mark.skipif(not _chromium(), reason='needs Debian chromium and '
                    'chromium-driver (apt-get install chromium '
                    'chromium-driver); .ci/run installs them')
def test_search_in_a_real_browser(demo, tmp_path):
    webdriver = pytest.importorskip('selenium.webdriver')
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which('chromium')
    for flag in ('--headless', '--no-sandbox', '--disable-gpu',
                 '--disable-background-networking', '--no-first-run',
                 '--disable-component-update', '--disable-sync',
                 f'--user-data-dir={tmp_path / "chrome"}',
                 '--window-size=1200,900'):
        options.add_argument(flag)
    service = webdriver.ChromeService(
        executable_path=shutil.which('chromedriver'))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.get(demo.url)
        driver.find_element(By.ID, 'query').send_keys(QUERY)
        driver.execute_script(
            "const s = document.getElementById('topk'); s.value = 6; "
            "s.dispatchEvent(new Event('input'));")
        driver.find_element(By.ID, 'search').click()
        WebDriverWait(driver, 60).until(
            lambda d: d.find_element(By.ID, 'status')
            .get_attribute('data-done') == '1')
        figures = driver.find_elements(By.CSS_SELECTOR, 'figure.result')
        assert len(figures) == 6
        scores = [float(f.get_attribute('data-score')) for f in figures]
        assert scores == sorted(scores, reverse=True)
        # every photo loaded in the page
        assert driver.execute_script(
            "return [...document.images].every(i => i.naturalWidth > 0)")
        shot = os.environ.get('TBPS_DEMO_SCREENSHOT',
                              str(tmp_path / 'web_demo.png'))
        driver.save_screenshot(shot)
        assert os.path.getsize(shot) > 1000
    finally:
        driver.quit()


def test_cli_refuses_missing_gallery(load_tool, tmp_path):
    tool = load_tool('tools/demo/web_demo.py')
    args = tool.parse_args(['configs/clip/clip_synth.py', 'none',
                            '--gallery', str(tmp_path / 'nope'),
                            '--cfg-options'] + TINY)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        tool.build_server(args)


def test_page_has_the_controls(demo):
    with urllib.request.urlopen(demo.url) as response:
        page = response.read().decode()
    for element in ('id="query"', 'id="topk"', 'id="search"'):
        assert element in page
    assert 'id="phrase"' not in page  # a dual encoder: no attention maps


def test_fusion_model_serves_attention_maps(tiny_synth_root, tmp_path,
                                            load_tool):
    gallery = tmp_path / 'g'
    gallery.mkdir()
    for src in find_images(os.path.join(tiny_synth_root, 'imgs',
                                        'test'))[:4]:
        shutil.copy(src, gallery)
    tool = load_tool('tools/demo/web_demo.py')
    args = tool.parse_args([
        'configs/laip/laip_synth.py', 'none', '--gallery', str(gallery),
        '--port', '0', '--cfg-options',
        'model.image_encoder.arch.num_layers=1', 'model.rerank.k=2'])
    server = tool.build_server(args).start()
    try:
        with urllib.request.urlopen(server.url) as response:
            assert 'id="phrase"' in response.read().decode()
        status, body = _get(server, '/api/attention?image=1&phrase=a+red+coat')
        assert status == 200 and body[:4] == b'\x89PNG'
        assert _get(server, '/api/attention?image=x')[0] == 400
    finally:
        server.stop()


def test_foreign_host_header_is_refused(demo):
    host, port = demo.httpd.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request('GET', '/api/search?q=a&k=1',
                 headers={'Host': f'evil.example:{port}'})
    assert conn.getresponse().status == 403
