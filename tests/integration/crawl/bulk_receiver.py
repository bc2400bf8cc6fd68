#!/usr/bin/env python3
"""A minimal Elasticsearch `_bulk` receiver for the crawler's sink test: appends each request's
NDJSON body to OUT and answers like Elasticsearch ({"errors": false, "items": [...]}).

  bulk_receiver.py PORT OUT [--fail-every N]
"""
import http.server
import json
import sys

PORT, OUT = int(sys.argv[1]), sys.argv[2]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        if not self.path.endswith("/_bulk") or "ndjson" not in self.headers.get("Content-Type", ""):
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        lines = [l for l in body.split("\n") if l]
        items = []
        for i in range(0, len(lines), 2):
            action = json.loads(lines[i])
            json.loads(lines[i + 1])
            op = action["index"]
            items.append({"index": {"_index": op["_index"], "_id": op["_id"], "status": 201, "result": "created"}})
        with open(OUT, "a") as f:
            f.write(body)
        with open(OUT + ".auth", "w") as f:
            f.write(self.headers.get("Authorization", ""))
        out = json.dumps({"took": 1, "errors": False, "items": items}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
