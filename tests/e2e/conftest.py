"""One local stack per test session, shared by every end-to-end test, stopped at the end."""
from __future__ import annotations

import pytest

from tests.localstack import RunningStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    running = RunningStack(tmp_path_factory.mktemp("stack") / "home").start()
    yield running
    running.stop()
