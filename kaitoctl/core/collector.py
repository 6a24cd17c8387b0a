"""The cyclic garbage collector, paused around work that builds many objects and no cycles.

Decoding a list of a thousand Kubernetes objects allocates about a million new, acyclic containers, and computing
their statuses builds thousands more while all of them are alive. Meanwhile the collector runs every 700
allocations and, as they pile up, traverses everything alive again and again: in-process, 7 MB of StatefulSets
decoded in 211 ms with it and 80 ms without, and status over 1000 workspaces spent ~0.2 s in its full collections.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_pauses = 0
_was_enabled = True


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Pause the collector for the block. Threads may overlap: the first to start pauses it, the last to finish
    resumes it (unless it was off before the first)."""
    global _pauses, _was_enabled
    with _lock:
        if _pauses == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _was_enabled:
                gc.enable()
