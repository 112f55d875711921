"""``dexsafe bench``: run benchmark groups, print one table, write JSON rows."""

from __future__ import annotations

import argparse
import sys

from dexsafe.evaluation import bench


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--group", action="append", choices=sorted(bench.GROUPS),
                        help="run only this group (repeatable); default: all")
    parser.add_argument("--out", default="bench_results.json", help="JSON file for the rows")


def run(args: argparse.Namespace) -> int:
    names = args.group or list(bench.GROUPS)
    rows = bench.run_groups(names, progress=lambda msg: print(msg, file=sys.stderr, flush=True))
    print(bench.format_table(rows))
    bench.write_json(rows, args.out)
    print(f"\n{len(rows)} rows written to {args.out}", file=sys.stderr)
    return 0
