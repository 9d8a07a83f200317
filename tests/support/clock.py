"""A clock the test moves by hand, for `Runtime(settings, clock=...)`."""

from __future__ import annotations

T0 = 1_700_000_000.0


class Clock:
    """Returns `now`; tests advance it explicitly."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
