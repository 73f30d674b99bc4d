"""A stand-in for llama-server that speaks just enough of its protocol for the supervisor.

Run as an executable by the tests. It takes llama-server's flags and ignores those it does
not know, plus ``--fake-*`` flags that make it misbehave in the ways a real server can:
load slowly, fail to start, ignore SIGTERM, leave a grandchild process behind.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fake-load-delay", type=float, default=0.0)
    parser.add_argument("--fake-exit-code", type=int, default=None)
    parser.add_argument("--fake-ignore-term", action="store_true")
    parser.add_argument("--fake-child-pidfile", default=None)
    args, _llama_flags = parser.parse_known_args()

    if args.fake_exit_code is not None:
        print("fake: refusing to start", flush=True)
        sys.exit(args.fake_exit_code)
    if args.fake_ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.fake_child_pidfile:
        child = subprocess.Popen(["sleep", "300"])
        with open(args.fake_child_pidfile, "w") as out:
            out.write(str(child.pid))

    started = time.monotonic()
    lock = threading.Lock()
    stats = {"in_flight": 0, "max_in_flight": 0, "served": 0}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                loaded = time.monotonic() - started >= args.fake_load_delay
                self._reply(200 if loaded else 503, {"status": "ok" if loaded else "loading"})
            elif self.path == "/v1/models":
                self._reply(200, {"object": "list", "data": [{"id": "fake", "object": "model"}]})
            elif self.path == "/v1/slow":
                with lock:
                    stats["in_flight"] += 1
                    stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
                time.sleep(0.2)
                with lock:
                    stats["in_flight"] -= 1
                    stats["served"] += 1
                self._reply(200, {"ok": True})
            elif self.path == "/v1/stats":
                with lock:
                    self._reply(200, dict(stats))
            else:
                self._reply(404, {"error": "not found"})

        def _reply(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            print("fake:", format % args, flush=True)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"fake: listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
