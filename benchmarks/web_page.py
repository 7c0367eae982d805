"""A page of avatars in Debian's Chromium: @depthstudio/react against react-depth-map 1.0.9, same run, same browser.

    .venv/bin/python benchmarks/web_page.py [--sizes 16 60 150] [--seconds 3] [--smoke]

For each page size and implementation (web/bench: the same grid of 96 px avatars; ours on React 19, react-depth-map
on React 16, its peer): WebGL contexts created and lost, frames/s while the pointer circles the page (rAF callbacks
per second), JS heap after a forced GC, and the time from navigation to the first WebGL draw call. Chromium keeps
about 16 contexts per page, so react-depth-map's frames/s above 16 avatars counts only the ones still alive.
SwiftShader renders on the CPU: absolute frames/s are far below a GPU's; compare the two in the same run.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import node_web  # the npm ci cache and the package build the tests use

REPO = Path(__file__).resolve().parent.parent
IMPLS = ("ours", "rdm")


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[16, 60, 150])
    parser.add_argument("--seconds", type=float, default=3.0, help="pointer motion per page")
    parser.add_argument("--smoke", action="store_true", help="4 avatars, 1 s: checks the script, not the figures")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.seconds = [4], 1.0
    node_web.install()
    print(node_web.build_package())
    node_web.run(["node", "bench/build.mjs"])
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(REPO)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    results: dict[str, dict[str, dict]] = {}
    try:
        for n in args.sizes:
            results[str(n)] = {}
            for impl in IMPLS:
                url = f"http://127.0.0.1:{httpd.server_port}/web/bench/page.html?impl={impl}&n={n}"
                out = node_web.run(["node", "bench/measure.mjs", url, str(args.seconds)], timeout=300)
                r = json.loads(out.strip().splitlines()[-1])
                results[str(n)][impl] = r
                print(
                    f"{n:4d} avatars {impl:5s}: contexts {r['contexts']['created']:3d} created "
                    f"{r['contexts']['lost']:3d} lost, {r['fps']:5.1f} frames/s, heap {r['heapMB']:.2f} MB, "
                    f"first 3D frame {r['firstDrawMs']:.0f} ms" + (f", errors {r['errors']}" if r["errors"] else "")
                )
    finally:
        httpd.shutdown()
        httpd.server_close()
    small, large = str(min(args.sizes)), str(max(args.sizes))
    summary = {
        "sizes": args.sizes,
        "results": results,
        f"ours_lost_contexts_at_{large}": results[large]["ours"]["contexts"]["lost"],
        f"rdm_lost_contexts_at_{large}": results[large]["rdm"]["contexts"]["lost"],
        f"fps_ratio_ours_vs_rdm_at_{small}": results[small]["ours"]["fps"] / results[small]["rdm"]["fps"],
        f"heap_ratio_ours_vs_rdm_at_{small}": results[small]["ours"]["heapMB"] / results[small]["rdm"]["heapMB"],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
