"""``dexsafe eval-bag BAG --mode open|closed``: replay a recorded run and judge it.

Writes ``result.jsonl`` (one line per frame plus a summary line with pass/fail),
``report.png`` and ``report.html`` to ``--out``; prints the verdict. Exit
status: 0 pass, 1 fail, 2 the bag cannot be used (the message says why).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="bag directory, .mcap or .db3 file")
    parser.add_argument("--mode", choices=("open", "closed"), default="open",
                        help="open: recorded inputs through a fresh shield, outputs compared; "
                             "closed: sim reset to the recorded scene, recorded policy re-run, outcomes compared")
    parser.add_argument("--policy", choices=("recorded", "scripted"), default=None,
                        help="closed loop: feed the recorded policy commands (default), or re-plan and re-run "
                             "the scripted grasp from the recorded initial scene; open loop: scripted also "
                             "re-runs the policy on the recorded observations (default when the run was "
                             "scripted), recorded replays the shield only")
    parser.add_argument("--out", default=None, help="folder for result.jsonl and the report "
                                                    "(default out/eval/<bag name>-<mode>)")
    parser.add_argument("--tolerance", type=float, default=None,
                        help="divergence allowed per frame, rad or m (default: open loop 1e-6 for runs "
                             "recorded by dexsafe's sim loop, 0.05 for live or foreign recordings; closed 0.05)")
    parser.add_argument("--topic", action="append", default=[], metavar="ROLE=TOPIC",
                        help="recorded topic for a role (joint_states, objects, contacts, policy_commands, "
                             "hand_commands, cost, estop), for bags of a remapped graph")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--no-report", action="store_true", help="write result.jsonl only")


def topic_map(pairs: list[str]):
    from dataclasses import fields

    from dexsafe.evaluation.topics import TopicMap

    roles = {f.name for f in fields(TopicMap)}
    kwargs = {}
    for pair in pairs:
        role, sep, topic = pair.partition("=")
        if not sep or role not in roles or not topic.startswith("/"):
            raise ValueError(f"--topic {pair!r}: expected ROLE=/topic with ROLE one of {sorted(roles)}")
        kwargs[role] = topic
    return TopicMap(**kwargs)


def run(args: argparse.Namespace) -> int:
    from dexsafe.evaluation.errors import BagError
    from dexsafe.evaluation.evaluate import evaluate_bag

    bag = Path(args.bag)
    out = Path(args.out) if args.out else Path("out/eval") / f"{bag.stem or bag.name}-{args.mode}"
    try:
        topics = topic_map(args.topic)
        result = evaluate_bag(bag, args.mode, out, args.tolerance, topics,
                              progress=not args.no_progress and sys.stderr.isatty(), report=not args.no_report,
                              policy=args.policy)
    except (BagError, ValueError) as exc:
        print(f"dexsafe eval-bag: error: {exc}", file=sys.stderr)
        return 2
    s = result.summary
    print(s.headline())
    for note in s.notes:
        print(f"  note: {note}")
    print(f"  latency of the shield per frame: p50 {s.latency_p50_s * 1e6:.0f} us, p99 {s.latency_p99_s * 1e6:.0f} us")
    for kind, path in result.files.items():
        print(f"  {kind}: {path}")
    return 0 if s.passed else 1
