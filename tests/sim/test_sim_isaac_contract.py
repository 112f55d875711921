"""The Isaac Lab backend: the SimBackend contract where isaaclab is installed; a clear ImportError here."""

from __future__ import annotations

import pytest

from dexsafe.sim.isaac import IsaacLabBackend, isaaclab_available


@pytest.mark.skipif(isaaclab_available(), reason="isaaclab is installed: the contract test below runs instead")
def test_sim_isaac_backend_without_isaaclab_says_what_to_install():
    with pytest.raises(ImportError, match="Isaac Lab is not installed"):
        IsaacLabBackend("two_blocks")


@pytest.mark.skipif(not isaaclab_available(),
                    reason="isaaclab is not installed here (it needs NVIDIA Isaac Sim and an RTX GPU)")
def test_sim_isaac_backend_contract():
    import numpy as np

    b = IsaacLabBackend("two_blocks")
    try:
        b.reset(seed=0)
        q = np.zeros(len(b.joint_names))
        b.set_joint_targets(q)
        b.step(10)
        js = b.joint_state()
        assert js.names[: len(b.joint_names)] == b.joint_names
        assert len(b.object_states()) == len(b.scene.objects)
        rgb, depth = b.render(None, 64, 48)
        assert rgb.shape == (48, 64, 3)
    finally:
        b.close()
