"""Streamed /v1/chat/completions through CodexContinue against the same OpenAI-protocol
server called directly, alternating, in one run: time to first token (TTFT) and tokens per
second, per request.

    v1_stream.py serve PORT TOKENS PACE_MS     the scripted model: streams TOKENS content
                                               chunks, one every PACE_MS, then [DONE]
    v1_stream.py measure DIRECT_URL OURS_URL REQUESTS
                                               REQUESTS streamed requests to each, alternating;
                                               prints one JSON summary

Only the standard library, so it runs wherever Python 3 does.
"""

import json
import statistics
import sys
import time
import http.client
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(port, tokens, pace_ms):
    pace = pace_ms / 1000.0

    class Model(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()

            def chunk(delta, finish=None):
                body = {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "scripted",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                self.wfile.write(b"data: " + json.dumps(body).encode() + b"\n\n")
                self.wfile.flush()

            chunk({"role": "assistant", "content": ""})
            for i in range(tokens):
                time.sleep(pace)
                chunk({"content": "tok%d " % i})
            chunk({}, "stop")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    ThreadingHTTPServer(("127.0.0.1", port), Model).serve_forever()


def one(url):
    """One streamed request: (seconds to the first content token, content tokens per second
    after it)."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    body = json.dumps(
        {"model": "scripted", "stream": True, "messages": [{"role": "user", "content": "go"}]}
    )
    started = time.perf_counter()
    connection.request(
        "POST", parts.path, body=body, headers={"content-type": "application/json"}
    )
    response = connection.getresponse()
    if response.status != 200:
        raise SystemExit("%s answered %d: %s" % (url, response.status, response.read()[:300]))
    first = last = None
    count = 0
    for raw in response:
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        delta = (json.loads(data).get("choices") or [{}])[0].get("delta") or {}
        if delta.get("content"):
            now = time.perf_counter()
            first = first if first is not None else now
            last = now
            count += 1
    connection.close()
    ttft = first - started
    rate = (count - 1) / (last - first) if count > 1 and last > first else float("nan")
    return ttft, rate


def measure(direct, ours, requests):
    results = {"direct": [], "ours": []}
    for i in range(requests):
        # Alternate which goes first, so neither always meets a warmer machine.
        order = [("direct", direct), ("ours", ours)]
        if i % 2:
            order.reverse()
        for name, url in order:
            results[name].append(one(url))

    def summary(rows):
        ttfts = sorted(r[0] * 1000 for r in rows)
        rates = [r[1] for r in rows]
        return {
            "ttft_p50_ms": round(statistics.median(ttfts), 2),
            "ttft_p99_ms": round(ttfts[min(len(ttfts) - 1, int(len(ttfts) * 0.99))], 2),
            "tokens_per_s_median": round(statistics.median(rates), 1),
        }

    direct_s, ours_s = summary(results["direct"]), summary(results["ours"])
    print(
        json.dumps(
            {
                "requests": requests,
                "direct": direct_s,
                "ours": ours_s,
                "ttft_p50_overhead_ms": round(ours_s["ttft_p50_ms"] - direct_s["ttft_p50_ms"], 2),
                "tokens_per_s_change_pct": round(
                    100 * (ours_s["tokens_per_s_median"] / direct_s["tokens_per_s_median"] - 1), 2
                ),
            }
        )
    )


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
    elif sys.argv[1] == "measure":
        measure(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        raise SystemExit(__doc__)
