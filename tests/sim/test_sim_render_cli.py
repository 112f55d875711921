"""Pictures: render_scene_png and the `dexsafe render` command write a non-blank PNG."""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from dexsafe.sim.render import render_scene_png


def test_sim_render_scene_png(tmp_path):
    out = render_scene_png("three_objects", tmp_path / "s.png", seed=2, width=200, height=150)
    img = np.asarray(Image.open(out))
    assert img.shape == (150, 200, 3) and img.std() > 10


def test_sim_render_cli(tmp_path, capsys):
    from dexsafe.cli import render

    parser = argparse.ArgumentParser()
    render.add_arguments(parser)
    out = tmp_path / "cli.png"
    assert render.run(parser.parse_args(["two_blocks", "-o", str(out), "--width", "120", "--height", "90"])) == 0
    assert out.is_file() and Image.open(out).size == (120, 90)
    assert render.run(parser.parse_args(["no_such_scene", "-o", str(out)])) == 2
    assert "no_such_scene" in capsys.readouterr().err
