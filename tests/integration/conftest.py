"""Fixtures shared by the integration tests (the session stack lives in tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def training_worker(stack):
    """A training worker for one test module; modules that kill workers start their own."""
    worker = stack.start_worker("training")
    yield worker
    stack.processes.pop("training-worker").stop()
