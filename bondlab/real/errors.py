"""The errors a real run ends with: each one line for the user, with the exit status it maps to."""

from __future__ import annotations


class RealSetupError(RuntimeError):
    """A real run that cannot happen or did not finish; str() is one line saying why (and the fix)."""

    exit_status = 3


class RealStopped(RealSetupError):
    """The run was stopped by a signal (SIGTERM, SIGHUP) and cleaned up; exit with 128 + signal."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message)
        self.exit_status = exit_status
