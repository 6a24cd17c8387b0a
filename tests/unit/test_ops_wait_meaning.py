"""What the waiter asks the cluster for when pods do not appear (ops/wait.py): the Warning events of the
workspace's namespace, exactly."""

from __future__ import annotations

from kaitoctl.ops.wait import EVENTS_AFTER_S
from kaitoctl.ops.watch import StreamSpec
from tests.unit.test_ops_wait import NS, make, node, statefulset, sync


def test_the_events_read_when_pods_do_not_appear_are_the_namespace_s_warnings() -> None:
    waiter, clock, _ = make()
    sync(waiter, nodes=[node()], workload=[statefulset()], pods=[])
    waiter.evaluate(clock())  # no pods yet: the timer starts
    clock.now = EVENTS_AFTER_S
    waiter.evaluate(clock())
    (events,) = [s for s in waiter.streams.specs if s.key == "events"]
    assert events == StreamSpec("events", f"/api/v1/namespaces/{NS}/events", field_selector="type=Warning")
