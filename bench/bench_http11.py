"""Benchmark: CPU per request of the collector's HTTP/1.1 connection alone (collector/http11.py),
against another source tree's in the same run (without ``--compare``: against llhttp alone, the
same bytes parsed by httptools with callbacks that only keep the body).

20,000 pipelined small line-protocol POSTs (four headers, a 10-line body) are fed to one
``Connection`` whose socket is a stub and whose route answers at once (with a gate that admits
every request, where the tree has gates): what is left is parsing, the edge's checks and the
answer's bytes. Each tree runs in its own process, alternately, best of five passes.

    .venv/bin/python bench/bench_http11.py [--compare TREE] [--rounds 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 20_000

_MEASURE = """
import os, sys, time
tree, requests, ROOT_OF_THIS = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, ROOT_OF_THIS if tree == "-" else tree)
from collector import http11
edge = os.path.exists(os.path.join(tree, "collector/httpserver.py"))  # this work's layout
bare = tree == "-"
class Stub:
    def write(self, data): pass
    def close(self): pass
    def pause_reading(self): pass
    def resume_reading(self): pass
    def can_write_eof(self): return True
    def write_eof(self): pass
    def get_extra_info(self, name, default=None): return ("127.0.0.1", 1) if name == "peername" else default
def route(request, reply): reply(204, [], b"")
def gate(request): return None
class Bare:  # llhttp alone: the floor under any server on httptools
    def __init__(self): self.parser = __import__("httptools").HttpRequestParser(self); self.parts = []
    def connection_made(self, transport): pass
    def on_body(self, body): self.parts.append(body)
    def on_message_complete(self): self.parts = []
    def data_received(self, data): self.parser.feed_data(data)
if bare:
    pass
elif edge:
    from collector.httplimits import HttpLimits
    from collector.httpserver import HttpServer
    server = HttpServer({"/write": route}, route, HttpLimits(), gates={"/write": gate})
else:
    server = http11.HttpServer({"/write": route}, route, max_body_bytes=1 << 20, keep_alive_s=30)
body = b"telemetry,jbox_id=jbox-00001 p_meas_kw=1.5,soc_pct=50 1700000000000000000\\n" * 10
request = (b"POST /write?precision=ns HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nAuthorization: Token abcdef\\r\\n"
           b"Content-Type: text/plain\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body)) + body
best = float("inf")
for _ in range(5):
    connection = Bare() if bare else http11.Connection(server)
    connection.connection_made(Stub())
    started = time.process_time()
    for _ in range(requests // 10):
        connection.data_received(request * 10)
    best = min(best, (time.process_time() - started) / requests)
print(best * 1e6)
"""


def measure(tree: Path | str) -> float:
    command = [sys.executable, "-c", _MEASURE, str(tree), str(REQUESTS), str(ROOT)]
    return float(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare", type=Path, help="the other source tree (git archive main | tar -x -C TREE)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        base, this = measure(args.compare.resolve() if args.compare else "-"), measure(ROOT)
        name = args.compare or "llhttp alone"
        print(f"round {round_}: {name}: {base:.2f} us/request; this tree: {this:.2f} us/request "
              f"({this / base:.2f}x the baseline)")  # fmt: skip


if __name__ == "__main__":
    main()
