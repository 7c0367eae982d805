"""Regenerate the schema block of resources/web/depthstudio-viewer.js from depthstudio.render (``--check``: verify).

Run after changing a parameter in depthstudio/render/params.py or the GLSL header in shader_source.py.
"""

from __future__ import annotations

import argparse
import sys

from depthstudio.render.web_export import VIEWER_FILE, sync_viewer_schema


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if the block is out of date; write nothing")
    args = parser.parse_args()
    up_to_date = sync_viewer_schema(write=not args.check)
    if args.check and not up_to_date:
        print(f"{VIEWER_FILE}: the schema block is out of date; run scripts/make_web_schema.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
