"""A stand-in for llama-server that speaks just enough of its protocol for the supervisor.

Run as an executable by the tests. It takes llama-server's flags and ignores those it does
not know, plus ``--fake-*`` flags that make it misbehave in the ways a real server can:
load slowly, fail to start, ignore SIGTERM, leave a grandchild process behind.

``POST /v1/chat/completions`` plays a two-turn investigator in OpenAI's wire format,
streamed (SSE) or not: ``kubectl get pods -n shop`` first, then ``final_answer`` quoting the
tool's output and this server's pid, so a test can tell which server instance answered.
``GET /v1/crash`` exits without answering, as a server killed mid-request would.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
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
            elif self.path.startswith("/v1/slow"):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                with lock:
                    stats["in_flight"] += 1
                    stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
                time.sleep(float(query.get("seconds", ["0.2"])[0]))
                with lock:
                    stats["in_flight"] -= 1
                    stats["served"] += 1
                self._reply(200, {"ok": True})
            elif self.path == "/v1/stats":
                with lock:
                    self._reply(200, dict(stats))
            elif self.path == "/v1/crash":
                os._exit(1)
            else:
                self._reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            if self.path != "/v1/chat/completions":
                self._reply(404, {"error": "not found"})
                return
            tool_results = [m for m in request["messages"] if m["role"] == "tool"]
            if tool_results:
                first_line = tool_results[-1]["content"].splitlines()[0]
                name = "final_answer"
                arguments = {"summary": f"seen by {os.getpid()}: {first_line}", "confidence": 0.9}
            else:
                name, arguments = "kubectl", {"command": "get pods -n shop"}
            call = {
                "id": f"call-{len(tool_results)}",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}
            if not request.get("stream"):
                message = {"role": "assistant", "content": None, "tool_calls": [call]}
                self._reply(
                    200,
                    {
                        "id": "chatcmpl-fake",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": "fake",
                        "choices": [
                            {"index": 0, "message": message, "finish_reason": "tool_calls"}
                        ],
                        "usage": usage,
                    },
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            head = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": "fake"}
            deltas = [
                {"role": "assistant", "tool_calls": [{"index": 0, **call}]},
                {},
            ]
            for i, delta in enumerate(deltas):
                finish = "tool_calls" if i == len(deltas) - 1 else None
                chunk = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
            self.wfile.write(
                f"data: {json.dumps({**head, 'choices': [], 'usage': usage})}\n\n".encode()
            )
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

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
