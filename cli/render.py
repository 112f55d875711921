"""``dexsafe render SCENE -o out.png``: render a scene headless to a PNG."""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scene", help="scene name (config/scenes/NAME.yaml) or path to a scene YAML")
    parser.add_argument("-o", "--output", default="scene.png", help="PNG file to write (default: scene.png)")
    parser.add_argument("--seed", type=int, default=None, help="object placement seed (default: the scene's seed)")
    parser.add_argument("--hand", default=None, help="hand name or description path (default: the scene's hand)")
    parser.add_argument("--width", type=int, default=800, help="image width in pixels (<= 1920)")
    parser.add_argument("--height", type=int, default=600, help="image height in pixels (<= 1080)")
    parser.add_argument("--camera", default=None, choices=["overview", "top"], help="camera (default: overview)")


def run(args: argparse.Namespace) -> int:
    from dexsafe.sim.hands import HandError
    from dexsafe.sim.render import render_scene_png
    from dexsafe.sim.scene_spec import SceneError

    try:
        out = render_scene_png(args.scene, args.output, seed=args.seed, hand=args.hand, width=args.width,
                               height=args.height, camera=args.camera)
    except (SceneError, HandError, ValueError) as exc:
        print(f"dexsafe render: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0
