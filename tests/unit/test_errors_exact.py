"""core/errors.py, exactly: each error's exit code, message, and the JSON a CI script reads from `-o json`."""

from __future__ import annotations

from kaitoctl.core.errors import (
    Blocked,
    CloudError,
    ClusterUnreachable,
    Declined,
    ExitCode,
    Interrupted,
    InvalidInput,
    KaitoctlError,
    NotFound,
    OperationFailed,
    WaitTimeout,
)


def test_the_exit_codes_ci_scripts_rely_on() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0,
        "FAILED": 1,
        "INVALID_INPUT": 2,
        "TIMEOUT": 3,
        "CLOUD": 4,
        "BLOCKED": 5,
        "INTERRUPTED": 130,
    }
    assert [
        e.exit_code
        for e in (
            KaitoctlError("m"),
            OperationFailed("m"),
            NotFound("m"),
            ClusterUnreachable("m"),
            InvalidInput("f", "p"),
            WaitTimeout("Ready", 1),
            CloudError("m"),
            Blocked(["x"]),
            Declined("x"),
            Interrupted("m"),
        )
    ] == [1, 1, 1, 1, 2, 3, 4, 5, 1, 130]


def test_a_bare_error_carries_only_type_code_and_message() -> None:
    err = NotFound("workspace phi not found in team-a")
    assert str(err) == "workspace phi not found in team-a"
    assert (err.message, err.hint, err.reason, err.details) == ("workspace phi not found in team-a", None, None, [])
    assert err.to_dict() == {"type": "NotFound", "exitCode": 1, "message": "workspace phi not found in team-a"}


def test_a_full_error_carries_reason_hint_and_details_in_that_order() -> None:
    details = ["one", "two"]
    err = OperationFailed("it failed", hint="do this", reason="CrashLoopBackOff", details=details)
    details.append("three")  # the error keeps its own copy
    assert err.to_dict() == {
        "type": "OperationFailed",
        "exitCode": 1,
        "message": "it failed",
        "reason": "CrashLoopBackOff",
        "hint": "do this",
        "details": ["one", "two"],
    }
    assert list(err.to_dict()) == ["type", "exitCode", "message", "reason", "hint", "details"]
    empty = OperationFailed("m", hint="", reason="", details=[])
    assert empty.to_dict() == {"type": "OperationFailed", "exitCode": 1, "message": "m"}


def test_invalid_input_names_the_field_the_fix_and_the_choices() -> None:
    err = InvalidInput("--preset", "unknown preset 'x'", "pick one of these", choices=["a", "b"])
    assert (err.field, err.problem, err.fix) == ("--preset", "unknown preset 'x'", "pick one of these")
    assert str(err) == "--preset: unknown preset 'x'"
    assert err.to_dict() == {
        "type": "InvalidInput",
        "exitCode": 2,
        "message": "--preset: unknown preset 'x'",
        "reason": "InvalidInput",
        "hint": "pick one of these",
        "details": ["a", "b"],
        "field": "--preset",
    }
    nameless = InvalidInput("", "two presets given")
    assert nameless.message == "two presets given"
    assert nameless.to_dict() == {
        "type": "InvalidInput",
        "exitCode": 2,
        "message": "two presets given",
        "reason": "InvalidInput",
        "field": "",
    }


def test_a_timeout_names_the_phase_the_time_and_what_was_last_seen() -> None:
    err = WaitTimeout("WorkspaceSucceeded", 600.4, hint="raise --timeout", last_reason="Pending: Unschedulable")
    assert (err.phase, err.waited_s) == ("WorkspaceSucceeded", 600.4)
    assert err.to_dict() == {
        "type": "WaitTimeout",
        "exitCode": 3,
        "message": "timed out after 600s waiting for WorkspaceSucceeded (last seen: Pending: Unschedulable)",
        "reason": "Timeout",
        "hint": "raise --timeout",
    }
    assert WaitTimeout("ResourceReady", 59.6).message == "timed out after 60s waiting for ResourceReady"
    assert WaitTimeout("ResourceReady", 59.6).hint is None


def test_a_cloud_error_s_reason_is_azure_s_code() -> None:
    err = CloudError("quota", code="QuotaExceeded", hint="ask for more", details=["d"])
    assert (err.code, err.reason, err.hint, err.details) == ("QuotaExceeded", "QuotaExceeded", "ask for more", ["d"])
    plain = CloudError("no")
    assert (plain.code, plain.reason, plain.hint, plain.details) == (None, "CloudError", None, [])
    assert plain.to_dict() == {"type": "CloudError", "exitCode": 4, "message": "no", "reason": "CloudError"}


def test_blocked_and_declined_say_what_and_what_next() -> None:
    blocked = Blocked(["kubeconfig", "gpu-quota"])
    assert blocked.to_dict() == {
        "type": "Blocked",
        "exitCode": 5,
        "message": "2 blocker(s): kubeconfig, gpu-quota",
        "reason": "Blocked",
        "hint": "apply the fix shown for each failed check, then run `kaitoctl doctor` again",
    }
    declined = Declined("create pool kc1234")
    assert declined.to_dict() == {
        "type": "Declined",
        "exitCode": 1,
        "message": "not confirmed: create pool kc1234; nothing was written",
        "hint": "re-run and answer y, or pass -y",
    }
    assert Interrupted("stopped").to_dict() == {"type": "Interrupted", "exitCode": 130, "message": "stopped"}
