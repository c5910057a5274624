"""A fixed pool of worker threads whose queue has a front: tasks that mostly wait go before the others.

Over a corpus, the checks that call an entry point triage saw wedge wait out
its whole budget (and again when re-run). Those plugins are probed last (their
probes wait too), so in a first-come queue their waits came at the end of the
run, where the servers sat blocked and the cores idle. Put at the front, the
waits overlap the other plugins' work.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_Task = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]


class FrontFirstPool:
    """``workers`` threads running submitted calls, front tasks first, then the others in submission order."""

    def __init__(self, workers: int, name: str) -> None:
        self._front: deque[_Task] = deque()
        self._back: deque[_Task] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{index}", daemon=True) for index in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., T], *args: Any, front: bool = False) -> Future[T]:
        future: Future[T] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the pool is shut down")
            (self._front if front else self._back).append((future, fn, args))
            self._ready.notify()
        return future

    def _next(self) -> _Task | None:
        with self._ready:
            while not self._front and not self._back and not self._closed:
                self._ready.wait()
            if self._front:
                return self._front.popleft()
            return self._back.popleft() if self._back else None

    def _work(self) -> None:
        while (task := self._next()) is not None:
            future, fn, args = task
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args)
            except BaseException as error:  # noqa: BLE001 - handed to whoever waits on the future
                future.set_exception(error)
            else:
                future.set_result(result)

    def shutdown(self) -> None:
        """Cancel what has not started, let running tasks finish, and join the threads."""
        with self._ready:
            self._closed = True
            for future, _, _ in (*self._front, *self._back):
                future.cancel()
            self._front.clear()
            self._back.clear()
            self._ready.notify_all()
        for thread in self._threads:
            thread.join()
