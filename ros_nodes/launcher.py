"""Start a node graph as processes without a ROS distro (``dexsafe launch``).

Each ``NodeSpec`` of ``dexsafe.ros_nodes.graph`` becomes one process running
``python -m dexsafe.ros_nodes.registry NAME --ros-args --params-file CFG -p k:=v
-r from:=to`` -- the same arguments ``ros2 launch`` passes. Output lines are
prefixed with the node's name; Ctrl-C (or ``duration``) stops every node with
SIGINT, then SIGKILL after a grace period.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from dexsafe.ros_nodes.graph import NodeSpec


def node_command(spec: NodeSpec) -> list[str]:
    return [sys.executable, "-m", "dexsafe.ros_nodes.registry", spec.name, *spec.ros_arguments()]


def _pump(name: str, stream) -> None:
    for line in iter(stream.readline, ""):
        sys.stdout.write(f"[{name}] {line}")
        sys.stdout.flush()


def run_graph(specs: list[NodeSpec], duration: float | None = None, grace: float = 5.0) -> int:
    """Start every node, wait for Ctrl-C, ``duration`` seconds, or a node to die; stop them all.

    Returns 0 if every node was still running when asked to stop, else 1.
    """
    env = dict(os.environ)
    env.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    procs: dict[str, subprocess.Popen] = {}
    status = 0
    try:
        for spec in specs:
            proc = subprocess.Popen(node_command(spec), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, env=env)
            threading.Thread(target=_pump, args=(spec.name, proc.stdout), daemon=True).start()
            procs[spec.name] = proc
            print(f"[launch] started {spec.name} (pid {proc.pid})", flush=True)
        end = None if duration is None else time.monotonic() + duration
        while end is None or time.monotonic() < end:
            dead = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
            if dead:
                print(f"[launch] node(s) exited: {dead}; stopping the graph", flush=True)
                status = 1
                break
            time.sleep(0.2)
    except KeyboardInterrupt:
        print("[launch] interrupted; stopping the graph", flush=True)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        deadline = time.monotonic() + grace
        for name, proc in procs.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"[launch] {name} did not stop in {grace} s; killing it", flush=True)
                proc.kill()
                proc.wait()
    return status
