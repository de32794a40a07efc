"""One read shared by the threads that wait for it, without giving any of them an older answer."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class SharedRead(Generic[T]):
    """Calls ``read`` for the threads of a process, one call at a time, each answer shared.

    A thread is given the answer of a call that *started after it asked*, never an earlier one:
    whatever was committed before it asked, that call saw. So a request still reads its own
    writes (and everything acknowledged before it came), while the requests that come during
    one read share the next, instead of each making its own round trip to the database.
    A failed call raises its error in every thread that waited for it.
    """

    def __init__(self, read: Callable[[], T]) -> None:
        self._read = read
        self._condition = threading.Condition()
        self._started = 0  # calls started so far; the n-th call is call n
        self._finished = 0  # the number of the last call that ended (below _started: one runs)
        self._answer: T | None = None
        self._error: BaseException | None = None
        self.waiting = 0  # threads waiting for a call now

    def __call__(self) -> T:
        with self._condition:
            asked_after = self._started  # any call numbered above this started after we asked
            while True:
                if self._finished > asked_after:
                    if self._error is not None:
                        raise self._error
                    return self._answer  # type: ignore[return-value]
                if self._finished == self._started:  # none runs
                    break
                self.waiting += 1
                try:
                    self._condition.wait()
                finally:
                    self.waiting -= 1
            self._started += 1
            number = self._started
        answer: T | None = None
        error: BaseException | None = None
        try:
            answer = self._read()
        except BaseException as caught:
            error = caught
        with self._condition:
            self._finished = number
            self._answer, self._error = answer, error
            self._condition.notify_all()
        if error is not None:
            raise error
        return answer  # type: ignore[return-value]
