"""``MissionCommander``: a task API over the mission action, in the style of
nav2_simple_commander's ``BasicNavigator``. What the CLI, the tests and users'
scripts call::

    commander = MissionCommander()
    commander.wait_until_ready()
    commander.run_instruction("pick up the two blocks together and lift them", auto_confirm=True)
    while not commander.is_done():
        print(commander.feedback())
    print(commander.result(), commander.last_result.message)

By default the commander spins itself (``rclpy.spin_until_future_complete`` on its
own node, as BasicNavigator does). Pass ``spin=False`` when the node is already
spun by an executor (e.g. ``RosHarness``).
"""

from __future__ import annotations

import threading
import time
from enum import Enum

import rclpy
from rclpy.action import ActionClient
from rclpy.node import Node

from dexsafe.action import RunInstruction


class TaskResult(Enum):
    UNKNOWN = 0
    SUCCEEDED = 1
    CANCELED = 2
    FAILED = 3


class MissionCommander(Node):
    def __init__(self, node_name: str = "mission_commander", spin: bool = True, **kwargs) -> None:
        super().__init__(node_name, **kwargs)
        self._spin = spin
        self.client = ActionClient(self, RunInstruction, "/dexsafe/run_instruction")
        self._goal_handle = None
        self._result_future = None
        self._feedback: RunInstruction.Feedback | None = None
        self.feedback_log: list[RunInstruction.Feedback] = []
        """Every feedback message of the current mission, in order."""
        self.feedback_times: list[float] = []
        """Arrival time of each ``feedback_log`` entry, s (time.monotonic)."""
        self.last_result: RunInstruction.Result | None = None
        self._status = TaskResult.UNKNOWN

    def _wait(self, future, timeout: float | None) -> bool:
        if self._spin:
            rclpy.spin_until_future_complete(self, future, timeout_sec=timeout)
            return future.done()
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        return done.wait(timeout)

    def wait_until_ready(self, timeout: float = 30.0) -> bool:
        """Wait for the mission action server; True when it is there."""
        return self.client.wait_for_server(timeout_sec=timeout)

    def run_instruction(self, instruction: str, auto_confirm: bool = False, timeout: float = 10.0) -> bool:
        """Send the instruction; True if the mission accepted it."""
        goal = RunInstruction.Goal(instruction=instruction, auto_confirm=auto_confirm)
        self._feedback, self.last_result, self._status = None, None, TaskResult.UNKNOWN
        self.feedback_log, self.feedback_times = [], []
        future = self.client.send_goal_async(goal, feedback_callback=self._on_feedback)
        if not self._wait(future, timeout) or not future.result().accepted:
            return False
        self._goal_handle = future.result()
        self._result_future = self._goal_handle.get_result_async()
        return True

    def _on_feedback(self, msg) -> None:
        self._feedback = msg.feedback
        self.feedback_log.append(msg.feedback)
        self.feedback_times.append(time.monotonic())

    def is_done(self, poll: float = 0.1) -> bool:
        """True once the mission has finished (successfully or not)."""
        if self._result_future is None:
            return True
        if not self._result_future.done():
            if self._spin:
                rclpy.spin_until_future_complete(self, self._result_future, timeout_sec=poll)
            else:
                time.sleep(poll)
            if not self._result_future.done():
                return False
        wrapped = self._result_future.result()
        self.last_result = wrapped.result
        self._status = {4: TaskResult.SUCCEEDED, 5: TaskResult.CANCELED, 6: TaskResult.FAILED}.get(
            wrapped.status, TaskResult.UNKNOWN)
        return True

    def feedback(self) -> RunInstruction.Feedback | None:
        """The latest feedback (step, phase, progress, detail), or None."""
        return self._feedback

    def cancel(self, timeout: float = 10.0) -> None:
        """Cancel the running mission; the hand opens and backs off."""
        if self._goal_handle is not None and self._result_future is not None and not self._result_future.done():
            self._wait(self._goal_handle.cancel_goal_async(), timeout)

    def result(self) -> TaskResult:
        return self._status
