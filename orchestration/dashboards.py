"""`make dashboards`: serve the cohesion atlas (dashboards/atlas) on http://127.0.0.1:8080.

The atlas is static: `make run` writes it (Dagster asset reports/cohesion_atlas) and its pages also open
straight from the folder (file://). This only serves it on localhost for people who prefer a URL, and
builds it first from the warehouse (read-only) when no atlas has been written yet.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import sys

from orchestration.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--rebuild", action="store_true", help="rebuild the atlas from the warehouse first")
    args = parser.parse_args(argv)
    settings = get_settings()
    atlas = settings.atlas_dir
    if args.rebuild or not (atlas / "index.html").exists():
        if not settings.warehouse_path.exists():
            print(f"No atlas in {atlas} and no warehouse at {settings.warehouse_path}: run `make run` first.",
                  file=sys.stderr)
            return 1
        from orchestration.lib.atlas import build_atlas

        print(f"building the atlas from {settings.warehouse_path} into {atlas}", flush=True)
        summary = build_atlas(settings.warehouse_path, atlas)
        print(f"  {sum(len(v) for v in summary['pages'].values())} pages", flush=True)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(atlas))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler)
    print(f"Cohesion atlas: http://127.0.0.1:{args.port}/  (files: {atlas}; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
