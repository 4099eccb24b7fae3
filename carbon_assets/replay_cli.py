"""`carbon-assets replay --signature sha256-... [--lake URI]`: recompute a past calculation and prove it.

Progress is written to stdout as JSON lines, one object per step ({"event": "start" | "record" | "input" |
"signature" | "recomputed" | "compared" | "skipped" | "warning" | "done" | "error", ...}).

Exit codes:
  0  every recorded output recomputed byte-identical (same canonical content sha256)
  1  the replay ran but at least one output differs (or could not be recomputed by this code): the
     "done" event lists them
  2  validation error: bad signature format, unknown signature, a recorded input (table, Delta version,
     data files) missing, or an input whose content no longer matches its recorded hash
  3  runtime error: the lake is unreachable, the record is corrupted, or any unexpected exception
"""

from __future__ import annotations

import argparse
import json
import sys

EXIT_IDENTICAL, EXIT_DIFFERENT, EXIT_INVALID, EXIT_RUNTIME = 0, 1, 2, 3


def add_parser(subparsers) -> argparse.ArgumentParser:
    """The `replay` subcommand on the `carbon-assets` parser's subparsers."""
    p = subparsers.add_parser("replay", help="recompute a past calculation from its record and compare outputs",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(p)
    p.set_defaults(func=run)
    return p


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--signature", required=True, help="the calculation's lineage signature (sha256-...)")
    p.add_argument("--lake", help="lake root URI (local path or s3://...); default CARBON_LAKE_URI / data/lake")
    p.add_argument("--tenant", help="only when the signature was recorded for several tenant-years")
    p.add_argument("--year", help="only when the signature was recorded for several tenant-years")


def _emit(event: dict, out=None) -> None:
    out = out or sys.stdout
    out.write(json.dumps(event, sort_keys=True, default=str) + "\n")
    out.flush()


def run(args: argparse.Namespace) -> int:
    """Run the replay; never raises: every failure is an "error" event and an exit code."""
    try:
        from carbon_assets import settings
        from carbon_assets.engine import replay as replay_mod

        lake = args.lake or settings.lake_uri()
        res = replay_mod.replay(lake, args.signature, settings.lake_storage_options(lake), progress=_emit,
                                code_version=settings.full_code_version(), tenant=args.tenant, year=args.year)
    except BaseException as exc:  # the exit code is the contract: classify, report, never trace
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        from carbon_assets.engine.replay import ValidationError

        invalid = isinstance(exc, ValidationError)
        _emit({"event": "error", "kind": "validation" if invalid else "runtime", "error": type(exc).__name__,
               "message": str(exc)})
        return EXIT_INVALID if invalid else EXIT_RUNTIME
    return EXIT_IDENTICAL if res.identical else EXIT_DIFFERENT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="carbon-assets replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
