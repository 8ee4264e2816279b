"""Test HTTP servers on 127.0.0.1, run as a subprocess by the fixtures of this folder.

    python http_server.py PORT DIR {truncate,drive}

``truncate``: every file is announced with its full Content-Length, half of it
is sent, then the connection is closed (a server that stops mid-file).
``drive``: Google Drive's direct-download flow: ``/uc?export=download&id=ID``
answers with the large-file warning page (an HTML form), whose submission
``/download?id=ID&export=download&confirm=t&uuid=...`` sends ``DIR/ID``.
(Plain files are served by ``python -m http.server``.)
"""
import http.server
import sys
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
            if mode == 'truncate':
                path = root / url.path.lstrip('/')
                if not path.is_file():
                    return self.send_error(404)
                data = path.read_bytes()
                self.send_bytes(data, 'application/octet-stream', send=len(data) // 2)
                self.close_connection = True
            elif url.path == '/uc':
                base = f'http://{self.headers["Host"]}'
                self.send_bytes(PAGE.format(base=base, id=query['id'][0]).encode(), 'text/html; charset=utf-8')
            elif url.path == '/download' and query.get('confirm') == ['t'] and query.get('uuid'):
                path = root / query['id'][0]
                if not path.is_file():
                    return self.send_error(404)
                self.send_bytes(path.read_bytes(), 'application/octet-stream')
            else:
                self.send_error(404)

        def log_message(self, *args):
            pass

    return Handler


if __name__ == '__main__':
    port, root, mode = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    http.server.ThreadingHTTPServer(('127.0.0.1', port), make_handler(root, mode)).serve_forever()
