"""The cyclic garbage collector paused around object-heavy work (core/collector.py):
it resumes only when the last concurrent pause ends, and stays off if it was off before."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from kaitoctl.core import collector


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    (gc.enable if enabled else gc.disable)()


def test_paused_while_decoding_and_resumed_after_the_last() -> None:
    gc.enable()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():  # a second thread decoding meanwhile
            assert not gc.isenabled()
        assert not gc.isenabled()  # the first one is still decoding
    assert gc.isenabled()


def test_resumed_after_an_error() -> None:
    gc.enable()
    with pytest.raises(ValueError), collector.paused():
        raise ValueError("malformed JSON")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with collector.paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_off_during_startup_then_on_with_startups_objects_frozen() -> None:
    gc.enable()
    gc.unfreeze()
    timer = collector.off_during_startup(seconds=0.2)
    assert not gc.isenabled()
    with collector.paused():  # a decode that outlasts start-up keeps it off until it ends
        timer.join(5)
        assert not gc.isenabled()
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0
    gc.unfreeze()


def test_start_up_ends_before_a_pause_does() -> None:
    gc.enable()
    timer = collector.off_during_startup(seconds=0.05)
    timer.join(5)
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.unfreeze()


def test_the_start_up_timer_never_holds_the_process_open() -> None:
    gc.enable()
    timer = collector.off_during_startup(seconds=0.01)
    assert timer.daemon is True  # a command that ends within its first seconds exits at once
    timer.join(5)
    assert gc.isenabled()
    gc.unfreeze()
