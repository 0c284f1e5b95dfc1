"""``async for row in query``: the Python half of the native ``AsyncRowIter``.

A row in hand is taken at once; otherwise the next page is awaited into hand and taken from
there. A cancelled ``await`` (``asyncio.wait_for``'s timeout, a task cancelled) therefore loses
no row: the page it was waiting for is either still in the stream or in hand for the next
``__anext__``.
"""

from __future__ import annotations

from typing import Any


class AsyncRows:
    """The rows of a query for ``async for``: the same dicts as ``for``."""

    __slots__ = ("_native",)

    def __init__(self, native: Any) -> None:
        self._native = native

    def __aiter__(self) -> "AsyncRows":
        return self

    async def __anext__(self) -> dict[str, Any]:
        while True:
            row = self._native._take()
            if row is not None:
                return row
            if not await self._native._fetch():
                raise StopAsyncIteration

    def summary(self) -> dict[str, Any]:
        """The library's summary of this iteration so far, as a dict."""
        return self._native.summary()
