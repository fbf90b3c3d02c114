#!/usr/bin/env python3
"""The demo shop's upstream: an in-memory order service on 127.0.0.1.

It is deliberately a little careless, the way real services are: it echoes
write-only coupon codes and internal notes back in its responses, so the demo
shows specguard removing them. GET /api/orders/00000000-0000-4000-8000-000000000bad
returns a response that breaks the schema, to show the 502 replacement.
"""
import json
import sys
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ORDERS = {}
BROKEN = "00000000-0000-4000-8000-000000000bad"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("upstream: " + (fmt % args) + "\n")

    def send_json(self, status, value, ctype="application/json"):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        if path == "/api/health":
            return self.send_json(200, {"status": "ok"})
        if path == "/api/admin/stats":
            return self.send_json(200, {"orders": len(ORDERS)})
        if path == "/api/orders":
            return self.send_json(200, list(ORDERS.values()))
        if path.startswith("/api/orders/"):
            oid = path.rsplit("/", 1)[1]
            if oid == BROKEN:
                return self.send_json(200, {"id": oid, "debug": "stack trace at OrderService.java:42"})
            if oid in ORDERS:
                return self.send_json(200, ORDERS[oid])
            return self.send_json(404, {"title": "Not Found", "status": 404}, "application/problem+json")
        self.send_json(404, {"title": "Not Found", "status": 404}, "application/problem+json")

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        if self.path.split("?", 1)[0] != "/api/orders":
            return self.send_json(404, {"title": "Not Found"}, "application/problem+json")
        order = json.loads(raw)
        order["id"] = str(uuid.uuid4())
        order["createdAt"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        order["internalNote"] = "fraud score 0.02"
        ORDERS[order["id"]] = order
        self.send_json(201, order)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    sys.stderr.write(f"demo upstream on 127.0.0.1:{port}\n")
    server.serve_forever()


if __name__ == "__main__":
    main()
