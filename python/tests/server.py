"""A small list API of the tests' own, serving fixed rows: for answers the emulator never
gives (a field first seen on a later page, a row Python cannot read)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Api:
    """Serves `rows` (JSON texts) by offset and limit at http://127.0.0.1:PORT/api/external."""

    def __init__(self, rows):
        self.rows = rows
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                offset, limit = body.get("offset", 0), body.get("limit", 1000)
                page = ",".join(api.rows[offset:offset + limit])
                out = ('{"code":200,"success":true,"data":[' + page + "]}").encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/external"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
