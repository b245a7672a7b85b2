"""`iin-explore <run_dir> [--port N] [--host H]`: serve the explorer for a trained run on this machine."""
from __future__ import annotations

import argparse
import sys

from ..errors import UserError


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="iin-explore", description="Interactive explorer of a trained iin run: invariances, layer profile, "
        "mixing, FGSM attacks, concept edits and attribution, in the browser (offline, local only).")
    parser.add_argument("run_dir", help="a run directory written by iin-train, e.g. outputs/colormnist")
    parser.add_argument("--port", type=int, default=7860, help="port to serve on (default 7860)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine "
                        "only; 0.0.0.0 exposes it to the network)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Load the run once (all networks), then serve until interrupted. A user mistake: one line, exit code 2."""
    args = parse(argv)
    from .app import build_app, launch
    from .session import Explorer

    try:
        explorer = Explorer(args.run_dir)
        explorer.warm()
    except (UserError, FileNotFoundError) as err:
        print(f"iin-explore: {err}", file=sys.stderr)
        return 2
    print(f"iin explorer for {args.run_dir}: http://{args.host}:{args.port} (Ctrl+C stops it)", flush=True)
    launch(build_app(explorer), args.host, args.port, block=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
