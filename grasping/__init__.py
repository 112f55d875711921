"""dexsafe.grasping: multi-object grasp proposals (MultiGrasp stage 1) in torch, validated in MuJoCo.

Modules, one concept each (the libraries never import rclpy):

- ``rotation``: 6D rotations, wrist Euler angles, quaternions;
- ``hand_model``: ``HandModel``, the differentiable hand built from a hand's MuJoCo model
  (batched FK, contact patches, surface points, self-penetration spheres);
- ``object_sdf``: signed distance and normals of objects (analytic primitives, voxel meshes);
- ``config``: ``GraspConfig`` from ``config/grasping/*.yaml`` (paper defaults in ``multigrasp``);
- ``energy``: ``GraspEnergy``, MultiGrasp's terms;
- ``optimizer``: annealed Langevin + Metropolis + contact switching, then Adam;
- ``proposals``: ``GraspProposer.propose`` (initialise, optimise, filter, rank) and the request checks;
- ``validation``: MuJoCo gravity test and close-and-lift;
- ``render``: PNG of proposals; ``benchmarks``: the ``grasping`` bench group.

Typical use::

    from dexsafe.grasping.proposals import GraspProposer, scene_object_poses
    from dexsafe.sim.scene_spec import load_scene

    scene = load_scene("two_blocks")
    proposer = GraspProposer(scene.hand)                       # profile: config/grasping/fast_cpu.yaml
    result = proposer.propose(scene_object_poses(scene), num=4, time_budget=30.0, seed=0)
    best = result.proposals[0]                                 # ranked: filter-passing first, then by energy
"""
