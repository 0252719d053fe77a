"""Waiting for something to become true in a test, with a deadline (never a bare sleep)."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

STEP = 0.02


async def until(check: Callable[[], Any], timeout: float = 40.0) -> None:
    """Poll ``check`` (plain or async) until it gives a true value; fail after ``timeout``."""
    for _ in range(max(1, int(timeout / STEP))):
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(STEP)
    raise AssertionError(f"not true within {timeout} s")
