"""Run real rclpy nodes in-process, for tests and benchmarks.

``RosHarness`` owns its own rclpy ``Context`` (so tests do not share global
state), spins every added node on a multi-threaded executor in a background
thread, and tears everything down on ``close()``. Discovery must already be
limited to this host (``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST``) with a
per-run ``ROS_DOMAIN_ID``; ``ensure_local_discovery()`` sets both if unset.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node

from dexsafe.ros_nodes.node_runtime import share_the_gil


def ensure_local_discovery() -> int:
    """Keep DDS on loopback and pick a domain from the process id if none is set.

    Returns the domain id in use. Call before the first ``rclpy.init``.
    """
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if "ROS_DOMAIN_ID" not in os.environ:
        os.environ["ROS_DOMAIN_ID"] = str(os.getpid() % 100 + 1)
    return int(os.environ["ROS_DOMAIN_ID"])


def _raced_with_destruction(exc: BaseException) -> bool:
    """True for rclpy's error from using a publisher, timer, ... whose node was destroyed."""
    return type(exc).__name__ == "InvalidHandle" or "destruction was requested" in str(exc)


class RosHarness:
    """Own context, executor thread, nodes. Use as a context manager or call ``close()``."""

    def __init__(self, threads: int = 4) -> None:
        ensure_local_discovery()
        share_the_gil()
        self.context = Context()
        rclpy.init(context=self.context)
        self.executor = MultiThreadedExecutor(num_threads=threads, context=self.context)
        self._nodes: list[Node] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="ros-harness", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self.context.ok() and not self._stop.is_set():
            try:
                self.executor.spin_once(timeout_sec=0.05)
            except Exception as exc:  # noqa: BLE001 - shutdown races end the loop
                if not self.context.ok():
                    break
                if _raced_with_destruction(exc):
                    continue  # a callback of a node remove() destroyed, already dispatched: not a failure
                raise

    def node(self, name: str, **kwargs: Any) -> Node:
        """A plain node in this context (a probe: publishers, clients, subscriptions)."""
        return self.add(Node(name, context=self.context, **kwargs))

    def action_client(self, action_type: Any, name: str, node_name: str = "action_probe"):
        """An ActionClient on a new probe node, made before that node spins: rclpy's ActionClient
        registers with its node before its lock exists, so an executor already spinning the node
        can call it half-built (seen in CI: the spin thread died and every future timed out)."""
        from rclpy.action import ActionClient

        node = Node(node_name, context=self.context)
        client = ActionClient(node, action_type, name)
        self.add(node)
        return client

    def add(self, node: Node) -> Node:
        """Spin ``node`` (built with ``context=harness.context``) until close()."""
        self._nodes.append(node)
        self.executor.add_node(node)
        return node

    def remove(self, node: Node) -> None:
        """Stop spinning ``node`` and destroy it while the others keep running (a driver that
        dies, say). A callback of it that the executor had already dispatched may still run and
        fail on the destroyed handle; the spin thread ignores exactly that error."""
        self.executor.remove_node(node)
        self._nodes.remove(node)
        node.destroy_node()

    def add_spec(self, spec) -> Node:
        """Start a ``graph.NodeSpec`` in-process with the config file, overrides and remappings
        that ``dexsafe launch`` and ``ros2 launch`` give it."""
        from dexsafe.ros_nodes.registry import node_class

        return self.add(node_class(spec.name)(context=self.context, cli_args=spec.ros_arguments()))

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        """Poll ``condition`` until true; raise ``TimeoutError`` naming ``what`` otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.01)
        raise TimeoutError(f"timed out after {timeout} s waiting for {what}")

    def result(self, future, timeout: float = 10.0, what: str = "future"):
        """Wait for an rclpy future that the background executor completes."""
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        return future.result()

    def close(self) -> None:
        # Stop spinning first, so no callback runs while its node is destroyed.
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.executor.shutdown(timeout_sec=2.0)
        for node in self._nodes:
            self.executor.remove_node(node)
            node.destroy_node()
        self._nodes.clear()
        # Callbacks that raced with destruction ended with "cannot use Destroyable"; they are
        # teardown artefacts, not failures: mark them seen so rclpy does not print them at exit.
        with self.executor._tasks_lock:
            for task, _, _ in self.executor._tasks:
                if task.done():
                    task.exception()
        rclpy.try_shutdown(context=self.context)

    def __enter__(self) -> RosHarness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def publishing(publisher, msg, period: float) -> Iterator[None]:
    """Publish ``msg`` on ``publisher`` every ``period`` s from a background thread while the block runs."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            publisher.publish(msg)
            time.sleep(period)

    thread = threading.Thread(target=loop, name="publishing", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


class SlowedCalls:
    """``target`` with its method ``name`` taking ``seconds`` longer per call: a node's
    collaborator made slow, to load one of its callbacks the way a busy machine does."""

    def __init__(self, target: Any, name: str, seconds: float) -> None:
        self._target, self._name, self._seconds = target, name, seconds

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._target, attr)
        if attr != self._name:
            return value

        def slowed(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self._seconds)
            return value(*args, **kwargs)

        return slowed
