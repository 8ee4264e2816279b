"""Test HTTP servers on 127.0.0.1, run as a subprocess by the fixtures of this folder.

    python http_server.py PORT DIR {truncate,drive,hostile}

``truncate``: every file is announced with its full Content-Length, half of it
is sent, then the connection is closed (a server that stops mid-file).
``drive``: Google Drive's direct-download flow: ``/uc?export=download&id=ID``
answers with the large-file warning page (an HTML form), whose submission
``/download?id=ID&export=download&confirm=t&uuid=...`` sends ``DIR/ID``
(``&form_host=HOST:PORT``: the form submits to that host instead).
``hostile``: a server that attacks the client, by the first part of the path
(the rest is any name, percent-encoded separators included):

- ``/ckpt/...``: ``DIR/good.pth``; ``/right/...``: ``DIR/right.pth`` (the file a
  mirror really holds); ``/junk/...``: bytes that are no checkpoint;
  ``/truncated/...``: the first half of ``good.pth``, with that as its length;
- ``/slow/...``: ``good.pth`` in 4 parts over about 2 s;
- ``/html-file/...``: an HTML page linking ``file://DIR/secret.pth#confirm=1``;
  ``/html-form/...``: a page whose form submits to another host
  (``localhost`` instead of ``127.0.0.1``); ``/html-plain/...``: a web page;
- ``/redirect-file/...``, ``/redirect-ftp/...``: a 302 to ``file://`` / ``ftp://``;
  ``/loop/N/...``: a 302 to ``/loop/N+1/...``, forever;
- ``/endless/...``: no Content-Length, 64 MB of zeros (more than any test's cap);
- ``/huge/...``: announces 3 GiB, sends nothing for 10 s;
- ``/big/...``: announces 100 MB, sends 1 MB;
- ``/drip/...``: announces 1000 bytes, sends one every 0.3 s;
- ``/count``: JSON ``{first path part: requests}`` (``/count`` itself not counted).
"""
import collections
import http.server
import json
import sys
import threading
import time
import urllib.parse
from pathlib import Path

PAGE = ('<!DOCTYPE html><html><head><title>Google Drive - Virus scan warning</title></head><body>'
        '<p>File is too large for Google to scan for viruses.</p>'
        '<form id="download-form" action="{base}/download" method="get">'
        '<input type="submit" value="Download anyway"/>'
        '<input type="hidden" name="id" value="{id}"><input type="hidden" name="export" value="download">'
        '<input type="hidden" name="confirm" value="t"><input type="hidden" name="uuid" value="4a7e-11">'
        '</form></body></html>')


def make_handler(root: Path, mode: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        def send_bytes(self, data: bytes, ctype: str, send: int = None) -> None:
            self.send_response(200)
            self.send_header('Content-Type', ctype)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data if send is None else data[:send])
            self.wfile.flush()

        def do_GET(self):
            url = urllib.parse.urlparse(self.path)
            query = urllib.parse.parse_qs(url.query)
            if mode == 'hostile':
                return self.hostile(url.path)
            if mode == 'truncate':
                path = root / url.path.lstrip('/')
                if not path.is_file():
                    return self.send_error(404)
                data = path.read_bytes()
                self.send_bytes(data, 'application/octet-stream', send=len(data) // 2)
                self.close_connection = True
            elif url.path == '/uc':
                # ``form_host=H``: the form submits to another host (a hostile page)
                base = f'http://{query.get("form_host", [self.headers["Host"]])[0]}'
                self.send_bytes(PAGE.format(base=base, id=query['id'][0]).encode(), 'text/html; charset=utf-8')
            elif url.path == '/download' and query.get('confirm') == ['t'] and query.get('uuid'):
                path = root / query['id'][0]
                if not path.is_file():
                    return self.send_error(404)
                self.send_bytes(path.read_bytes(), 'application/octet-stream')
            else:
                self.send_error(404)

        def redirect(self, location: str) -> None:
            self.send_response(302)
            self.send_header('Location', location)
            self.send_header('Content-Length', '0')
            self.end_headers()

        def stream(self, parts, length=None, pause: float = 0.0) -> None:
            """Send ``parts`` one by one, ``pause`` s apart, until the client hangs up."""
            self.send_response(200)
            self.send_header('Content-Type', 'application/octet-stream')
            if length is not None:
                self.send_header('Content-Length', str(length))
            self.end_headers()
            try:
                for part in parts:
                    self.wfile.write(part)
                    self.wfile.flush()
                    time.sleep(pause)
            except OSError:  # the client gave up: what the test wants
                pass
            self.close_connection = True

        def hostile(self, path: str) -> None:
            kind = path.lstrip('/').split('/')[0]
            if kind == 'count':
                with LOCK:
                    return self.send_bytes(json.dumps(COUNTS).encode(), 'application/json')
            with LOCK:
                COUNTS[kind] += 1
            good = (root / 'good.pth').read_bytes()
            host = f'http://{self.headers["Host"]}'
            port = self.server.server_address[1]
            page = '<!DOCTYPE html><html><body>{}</body></html>'
            if kind == 'ckpt':
                self.send_bytes(good, 'application/octet-stream')
            elif kind == 'right':
                self.send_bytes((root / 'right.pth').read_bytes(), 'application/octet-stream')
            elif kind == 'junk':
                self.send_bytes(b'this is not a checkpoint\n' * 40, 'application/octet-stream')
            elif kind == 'truncated':
                self.send_bytes(good[:len(good) // 2], 'application/octet-stream')
            elif kind == 'slow':
                step = len(good) // 4 + 1
                self.stream([good[i:i + step] for i in range(0, len(good), step)], len(good), pause=0.6)
            elif kind == 'html-file':
                link = f'<a href="file://{root}/secret.pth#confirm=1">Download anyway</a>'
                self.send_bytes(page.format(link).encode(), 'text/html; charset=utf-8')
            elif kind == 'html-form':
                form = (f'<form action="http://localhost:{port}/ckpt/stolen.pth" method="get">'
                        '<input type="hidden" name="confirm" value="t"></form>')
                self.send_bytes(page.format(form).encode(), 'text/html; charset=utf-8')
            elif kind == 'html-plain':
                self.send_bytes(page.format('<p>Sign in to continue</p>').encode(), 'text/html')
            elif kind == 'redirect-file':
                self.redirect(f'file://{root}/secret.pth')
            elif kind == 'redirect-ftp':
                self.redirect(f'ftp://127.0.0.1:{port}/secret.pth')
            elif kind == 'loop':
                n = int(path.split('/')[2])
                self.redirect(f'{host}/loop/{n + 1}/' + '/'.join(path.split('/')[3:]))
            elif kind == 'endless':
                self.stream([bytes(1 << 16)] * 1024)
            elif kind == 'huge':
                self.stream([b''], 3 << 30, pause=10)
            elif kind == 'big':
                self.stream([bytes(1 << 20)], 100 << 20)
            elif kind == 'drip':
                self.stream([b'x'] * 1000, 1000, pause=0.3)
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    return Handler


COUNTS = collections.Counter()
LOCK = threading.Lock()


if __name__ == '__main__':
    port, root, mode = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    http.server.ThreadingHTTPServer(('127.0.0.1', port), make_handler(root, mode)).serve_forever()
