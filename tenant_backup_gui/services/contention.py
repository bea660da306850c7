"""Bounded retries when the app's own writes get in the way: PostgreSQL answers a restore that
meets them with a deadlock (40P01), a serialization failure (40001) or a lock timeout (55P03),
all mapped to core.errors.Busy by sources/direct/connect.db_error. Each is rolled back whole by the
database, so the step is simply run again after a pause; when the app keeps writing, the user
gets exit 3 and the advice to pick a quiet moment — never a configuration error."""

from __future__ import annotations

import random
import threading
import time
from typing import Callable, TypeVar

from ..core.errors import Busy, Cancelled

T = TypeVar("T")

ATTEMPTS = 5
FIRST_PAUSE = 0.25  # seconds, doubled after each try, with jitter so two runs do not collide again


def retry_busy(step: Callable[..., T], *args, cancelled: threading.Event | None = None,
               attempts: int = ATTEMPTS) -> T:
    pause = FIRST_PAUSE
    for attempt in range(1, attempts + 1):
        try:
            return step(*args)
        except Busy as err:
            if attempt == attempts:
                raise Busy(f"{err} (tried {attempts} times)") from None
        if cancelled is not None and cancelled.wait(pause * random.uniform(0.5, 1.5)):
            raise Cancelled("cancelled; nothing was changed")
        elif cancelled is None:
            time.sleep(pause * random.uniform(0.5, 1.5))
        pause *= 2
    raise AssertionError("unreachable")
