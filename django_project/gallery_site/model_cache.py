"""The site's one way to keep loaded models in a process: :class:`LoadOnce`.

The gallery (one model per method), the style studio (one per trained style) and the model
workshop (one per record) all load ``course_lib`` checkpoints on first use and keep them, so a
request never reads weights from disk twice. They share this small cache instead of three
copies of the same lock-and-dict code.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["LoadOnce"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LoadOnce(Generic[K, V]):
    """Values loaded once per key and kept, least recently used dropped past ``max_size``.

    Loading runs under the cache's lock, so two threads asking for the same key at once load it
    once. A load that raises is not cached: the next call tries again, so a file that was fixed
    (retrained) is used at once. ``loads`` counts loads per key (tests check "loaded once").
    """

    def __init__(self, max_size: int | None = None) -> None:
        if max_size is not None and max_size < 1:
            raise ValueError(f"max_size must be at least 1 (or None), got {max_size!r}")
        self.max_size = max_size
        self.lock = threading.RLock()
        self.loads: Counter[K] = Counter()
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The value for ``key``: cached, or ``load()`` now (then cached)."""
        with self.lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = load()
            self._items[key] = value
            self.loads[key] += 1
            while self.max_size is not None and len(self._items) > self.max_size:
                self._items.popitem(last=False)
            return value

    def __contains__(self, key: object) -> bool:
        with self.lock:
            return key in self._items

    def discard(self, keep: Callable[[K], bool]) -> None:
        """Forget every key for which ``keep(key)`` is false."""
        with self.lock:
            for key in [k for k in self._items if not keep(k)]:
                del self._items[key]

    def clear(self) -> None:
        """Forget every value and load count."""
        with self.lock:
            self._items.clear()
            self.loads.clear()
