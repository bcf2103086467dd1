"""One local stack per test session, shared by every end-to-end test, stopped at the end."""
from __future__ import annotations

import pytest

from tests.localstack import RunningStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    # a short heartbeat so that a lost runner is noticed within seconds in the tests
    running = RunningStack(tmp_path_factory.mktemp("stack") / "home", env={"OPSGRAT_HEARTBEAT_SECONDS": "6"}).start()
    yield running
    running.stop()


@pytest.fixture
def opsgrat(stack, tmp_path):
    """The real `opsgrat` executable, connected to the shared stack as its admin."""
    from tests.cli import Opsgrat

    return Opsgrat(tmp_path, stack.url, stack.token)
