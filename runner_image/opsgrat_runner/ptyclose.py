"""Closing the pty of a finished ansible without ptyprocess's fixed 0.1 s sleep.

``PtyProcess.close`` closes the pty, then sleeps ``delayafterclose`` (0.1 s) "to give the kernel
time to update process status" before it checks whether the child still runs and terminates it.
ansible-runner closes the pty only once its loop has seen the child exit and reaped it, so for
every job that sleep is 0.1 s of nothing between ansible's last line and the job's final state.

`install()` skips the sleep when the child is already known to have exited; a child that is
still alive keeps the sleep and the terminate that follows, exactly as before.
"""
from __future__ import annotations

import functools

from ptyprocess import PtyProcess


def install() -> None:
    """Patch `PtyProcess.close` once per process."""
    if getattr(PtyProcess.close, "skips_wait_for_exited_child", False):
        return
    original = PtyProcess.close

    @functools.wraps(original)
    def close(self: PtyProcess, force: bool = True) -> None:
        if not self.closed and not self.isalive():  # exited and reaped: nothing to wait for
            self.delayafterclose = 0
        original(self, force)

    close.skips_wait_for_exited_child = True
    PtyProcess.close = close
