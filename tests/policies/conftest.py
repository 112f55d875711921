"""Tests here train small networks: one torch thread each."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    yield
