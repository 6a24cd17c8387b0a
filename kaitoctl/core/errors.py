"""Every error kaitoctl reports, with its exit code and the next step: defined here and nowhere else.

Errors are values: each carries what went wrong, what to do about it, and the exit code a CI script can rely on.
The CLI prints them (never a traceback) and exits with `exit_code`.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes. Documented in the README; stable for CI scripts."""

    OK = 0
    FAILED = 1  # the operation ran and failed: Job failed, CrashLoopBackOff, OOMKilled, API error, ...
    INVALID_INPUT = 2  # bad flags or Workspace YAML; nothing was written
    TIMEOUT = 3  # --timeout passed before the workspace was ready
    CLOUD = 4  # Azure said no: quota, SKU availability, throttling, credentials, failed pool operation
    BLOCKED = 5  # `kaitoctl doctor` found a blocker: a check failed that stops kaitoctl from working here
    INTERRUPTED = 130  # Ctrl-C / SIGINT (128 + 2, as shells report it)


class KaitoctlError(Exception):
    """Base of every error the user sees. `reason` uses Kaito's vocabulary where one applies."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        reason: str | None = None,
        details: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.reason = reason
        self.details = list(details or [])

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "type": type(self).__name__,
            "exitCode": int(self.exit_code),
            "message": self.message,
        }
        if self.reason:
            out["reason"] = self.reason
        if self.hint:
            out["hint"] = self.hint
        if self.details:
            out["details"] = self.details
        return out


class InvalidInput(KaitoctlError):
    """A flag or a Workspace field is wrong. Always names the field and the fix."""

    exit_code = ExitCode.INVALID_INPUT

    def __init__(self, field: str, problem: str, fix: str | None = None, *, choices: list[str] | None = None):
        self.field = field
        self.problem = problem
        self.fix = fix
        message = f"{field}: {problem}" if field else problem
        super().__init__(message, hint=fix, reason="InvalidInput", details=choices)

    def to_dict(self) -> dict[str, object]:
        out = super().to_dict()
        out["field"] = self.field
        return out


class OperationFailed(KaitoctlError):
    """The workload or an API call failed for a reason that will not heal by waiting."""

    exit_code = ExitCode.FAILED


class NotFound(OperationFailed):
    """A workspace, node or object the command needs does not exist."""


class ClusterUnreachable(OperationFailed):
    """The Kubernetes API server could not be reached or refused our credentials."""


class WaitTimeout(KaitoctlError):
    """--timeout passed. `phase` is the Kaito condition that was not reached."""

    exit_code = ExitCode.TIMEOUT

    def __init__(self, phase: str, waited_s: float, *, hint: str | None = None, last_reason: str | None = None):
        self.phase = phase
        self.waited_s = waited_s
        message = f"timed out after {waited_s:.0f}s waiting for {phase}"
        if last_reason:
            message += f" (last seen: {last_reason})"
        super().__init__(message, hint=hint, reason="Timeout")


class CloudError(KaitoctlError):
    """Azure refused or failed an operation: quota, SKU availability, throttling, credentials, failed LRO."""

    exit_code = ExitCode.CLOUD

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        hint: str | None = None,
        details: list[str] | None = None,
    ) -> None:
        self.code = code
        super().__init__(message, hint=hint, reason=code or "CloudError", details=details)


class Blocked(KaitoctlError):
    """`kaitoctl doctor` found at least one blocker (each is a row of its table, with the fix)."""

    exit_code = ExitCode.BLOCKED

    def __init__(self, names: list[str]) -> None:
        super().__init__(
            f"{len(names)} blocker(s): {', '.join(names)}",
            hint="apply the fix shown for each failed check, then run `kaitoctl doctor` again",
            reason="Blocked",
        )


class Declined(KaitoctlError):
    """The user answered no to `Proceed?`. Nothing was written."""

    exit_code = ExitCode.FAILED

    def __init__(self, what: str) -> None:
        super().__init__(f"not confirmed: {what}; nothing was written", hint="re-run and answer y, or pass -y")


class Interrupted(KaitoctlError):
    """Ctrl-C. Says what was already written so a re-run can converge."""

    exit_code = ExitCode.INTERRUPTED
