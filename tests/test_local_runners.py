"""The local runner backend's capacity: at most N runners at once, the rest wait in order,
heartbeated, and cancel or stop reach them while they wait. Runner processes are replaced by
records of what would have started."""
from __future__ import annotations

import threading

import pytest

from chalicelib.local import runners as local


class FakeProcess:
    def __init__(self, job_id: int):
        self.job_id = job_id
        self.pid = 2**22 + 1000 + job_id  # above any pid_max on Linux (4,194,304): signals reach no process
        self.ended = threading.Event()

    def join(self) -> None:
        self.ended.wait(10)


@pytest.fixture
def backend(tmp_path, monkeypatch):
    started: list[int] = []
    beaten: list[list[int]] = []
    reapers: list[threading.Thread] = []
    box = local.LocalBackend(tmp_path, capacity=1)

    def launch(job_id: int) -> None:  # LocalBackend._launch without the fork
        process = FakeProcess(job_id)
        box._running[job_id] = process
        started.append(job_id)
        reaper = threading.Thread(target=box._reap, args=(job_id, process), daemon=True)
        reapers.append(reaper)
        reaper.start()

    monkeypatch.setattr(box, "_launch", launch)
    monkeypatch.setattr(local, "_heartbeat", lambda ids: beaten.append(list(ids)))
    monkeypatch.setattr("chalicelib.services.jobs.heartbeat_seconds", lambda: 3)  # a beat a second
    monkeypatch.setattr("runner_image.opsgrat_runner.workdir.remove_job_dirs", lambda job_id, workspace=None: 0)
    monkeypatch.setattr("chalicelib.services.jobs.settings", dict)
    box.started, box.beaten = started, beaten
    yield box
    for process in list(box._running.values()):
        process.ended.set()
    box.stop_all()
    for reaper in reapers:  # before the patches above are undone
        reaper.join(5)


def _end(backend, job_id: int) -> None:
    backend._running[job_id].ended.set()


def _wait_for(condition, timeout: float = 5.0) -> bool:
    done = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return True
        done.wait(0.02)
    return condition()


def test_jobs_over_capacity_wait_and_start_in_order_as_runners_end(backend):
    for job_id in (1, 2, 3):
        assert backend.start(job_id) == str(job_id)
    assert backend.started == [1]
    _end(backend, 1)
    assert _wait_for(lambda: backend.started == [1, 2])
    _end(backend, 2)
    assert _wait_for(lambda: backend.started == [1, 2, 3])


def test_waiting_jobs_are_heartbeated_so_the_state_machine_keeps_them(backend):
    backend.start(1)
    backend.start(2)
    assert _wait_for(lambda: [2] in backend.beaten, timeout=5)
    assert all(1 not in beat for beat in backend.beaten)


def test_a_waiting_job_that_is_canceled_starts_at_once_to_report_it(backend):
    backend.start(1)
    backend.start(2)
    backend.cancel("2")
    assert backend.started == [1, 2]


def test_a_waiting_job_that_is_stopped_never_starts(backend):
    backend.start(1)
    backend.start(2)
    backend.stop("2")
    _end(backend, 1)
    assert not _wait_for(lambda: 2 in backend.started, timeout=1.0)
