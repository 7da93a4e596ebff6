"""Shared fixtures: the tiny model and dataset, and the real embedded stack for integration tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tiny import build_tiny_bert, write_dataset


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data") / "sentiment.csv")


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Real Temporal dev server + real S3 server (SeaweedFS) on free ports, and a sweep worker."""
    from hpo.contracts.settings import Settings
    from hpo.workers.stack import EmbeddedStack

    home = tmp_path_factory.mktemp("stack")
    embedded = EmbeddedStack.for_home(home, Settings(), ephemeral_ports=True)
    try:
        embedded.start_servers()
        embedded.start_worker("sweep")
        yield embedded
    finally:
        embedded.stop()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Leave without the interpreter's teardown once the Temporal SDK was loaded, as `hpo`
    does: an SDK abort while finalizing would turn a passing run into exit code 134."""
    if "temporalio.bridge.temporal_sdk_bridge" in sys.modules and _EXIT_STATUS in config.stash:
        from hpo.proc import exit_without_teardown

        exit_without_teardown(config.stash[_EXIT_STATUS])


_EXIT_STATUS = pytest.StashKey[int]()
