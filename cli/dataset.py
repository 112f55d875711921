"""``dexsafe dataset from-bag BAG... -o FILE.npz``: recorded runs -> offline RL data.

Writes the D4RL keys (observations, actions, rewards, costs, terminals,
timeouts) as an .npz plus a .json describing the layout and the episodes;
see ``dexsafe.evaluation.dataset``. Exit status 2 when a bag cannot be used.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = sub.add_parser("from-bag", help="convert recorded runs (one episode per bag) into a D4RL-style .npz")
    p.add_argument("bags", nargs="+", help="bag directories, .mcap or .db3 files")
    p.add_argument("-o", "--out", required=True, help="output .npz file")


def run(args: argparse.Namespace) -> int:
    from dexsafe.evaluation.dataset import dataset_from_bags
    from dexsafe.evaluation.errors import BagError

    if args.action != "from-bag":
        print(f"dexsafe dataset: unknown action {args.action!r}", file=sys.stderr)
        return 2
    try:
        layout = dataset_from_bags(args.bags, args.out)
    except BagError as exc:
        print(f"dexsafe dataset: error: {exc}", file=sys.stderr)
        return 2
    solved = sum(e["solved"] for e in layout["episodes"])
    print(f"wrote {args.out}: {layout['transitions']} transitions from {len(layout['episodes'])} episode(s), "
          f"{solved} solved")
    return 0
