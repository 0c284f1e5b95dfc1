"""Type stubs of the native module ``xp_export._native`` (Rust, PyO3)."""

import datetime
from typing import Any, Awaitable, Iterator, Optional, Sequence, Union, final

from xp_export._aio import AsyncRows


import pyarrow

__all__ = [
    "ApiError",
    "AsyncRowIter",
    "BatchIter",
    "Client",
    "ConfigError",
    "Emulator",
    "Error",
    "OutputError",
    "Query",
    "RefusedError",
    "RowIter",
    "export",
]

_TimeLike = Union[int, float, str, datetime.datetime, datetime.date]

class Error(Exception):
    """An export or a query failed. ``kind`` is the library's kind (``"refused"``,
    ``"server"``, ``"busy"``, ...); ``offset`` the page that failed (every row before it was
    delivered); ``status`` the HTTP status or the envelope's code; ``model`` the list model."""

    kind: str
    offset: Optional[int]
    status: Optional[int]
    model: Optional[str]

class RefusedError(Error):
    """The API refused the credentials or the request; retrying will not help."""

class ConfigError(Error):
    """The arguments or the environment are not usable: nothing was sent."""

class ApiError(Error):
    """The API failed after every retry: run again, or resume the export."""

class OutputError(Error):
    """An export's output, checkpoint, state or object store failed or refused."""

@final
class Client:
    """A client of the Xtremepush external API; credentials from the keywords or, where none
    is given, the environment (``XTREMEPUSH_APPTOKEN``, or ``XTREMEPUSH_CLIENT_ID`` with
    ``XTREMEPUSH_CLIENT_SECRET``; ``XTREMEPUSH_REGION``, ``XTREMEPUSH_API_URL``)."""

    def __new__(
        cls,
        *,
        apptoken: Optional[str] = None,
        region: Optional[str] = None,
        api_url: Optional[str] = None,
        token_url: Optional[str] = None,
        client_id: Optional[str] = None,
        client_secret: Optional[str] = None,
        private_key: Optional[str] = None,
        timeout: Optional[float] = None,
        connect_timeout: Optional[float] = None,
        max_retries: Optional[int] = None,
        retry_max_delay: Optional[float] = None,
    ) -> Client: ...
    @property
    def api_url(self) -> str: ...
    def push_actions(
        self,
        *,
        campaign: Optional[int] = None,
        failed: bool = False,
        since: Optional[_TimeLike] = None,
        until: Optional[_TimeLike] = None,
        where: Optional[Sequence[str]] = None,
        select: Optional[Sequence[str]] = None,
        order: Optional[Union[str, Sequence[str]]] = None,
        page_size: Optional[int] = None,
        concurrency: Optional[int] = None,
        mode: Optional[str] = None,
        max_rows: Optional[int] = None,
        start_offset: Optional[int] = None,
        start_after: Optional[int] = None,
        max_rps: Optional[float] = None,
        retry_budget: Optional[int] = None,
        reorder_window: Optional[int] = None,
        seam_check: Optional[bool] = None,
    ) -> Query: ...
    def list(self, model: str, **query: Any) -> Query: ...

@final
class Query:
    """A query: ``for row in q`` (dicts), ``async for row in q``, ``q.batches()`` (pyarrow
    record batches), or ``xp_export.export(q, ...)``. Each iteration runs it anew."""

    @property
    def model(self) -> str: ...
    def __iter__(self) -> RowIter: ...
    def __aiter__(self) -> AsyncRows: ...
    def batches(self) -> BatchIter: ...
    def summary(self) -> dict[str, Any]: ...

@final
class RowIter(Iterator[dict[str, Any]]):
    def __iter__(self) -> RowIter: ...
    def __next__(self) -> dict[str, Any]: ...
    def summary(self) -> dict[str, Any]: ...

@final
class AsyncRowIter:
    """The native half of ``async for`` (``xp_export._aio.AsyncRows`` is the other)."""

    def _take(self) -> Optional[dict[str, Any]]: ...
    def _fetch(self) -> Awaitable[bool]: ...
    def summary(self) -> dict[str, Any]: ...

@final
class BatchIter(Iterator[pyarrow.RecordBatch]):
    def __iter__(self) -> BatchIter: ...
    def __next__(self) -> pyarrow.RecordBatch: ...
    def summary(self) -> dict[str, Any]: ...

def export(
    query: Query,
    output: str,
    *,
    format: Optional[str] = None,
    resume: bool = False,
    restart: bool = False,
    checkpoint_every: Optional[float] = None,
) -> dict[str, Any]: ...

@final
class Emulator:
    """The library's local stand-in for the API, with fault injection, on 127.0.0.1."""

    def __new__(
        cls,
        *,
        records: int = 10_000,
        seed: Optional[int] = None,
        max_limit: Optional[int] = None,
        latency: Optional[float] = None,
        fault_rate: float = 0.0,
        faults: Optional[Sequence[str]] = None,
        apptoken: Optional[str] = None,
        campaigns: Optional[Sequence[int]] = None,
        insert_per_request: int = 0,
    ) -> Emulator: ...
    @property
    def base_url(self) -> str: ...
    @property
    def apptoken(self) -> str: ...
    @property
    def requests(self) -> int: ...
    def client(self) -> Client: ...
    def request_log(self) -> list[dict[str, Any]]: ...
    def inject(self, faults: Sequence[str]) -> None: ...
    def insert(self, n: int) -> None: ...
    def shutdown(self) -> None: ...
    def __enter__(self) -> Emulator: ...
    def __exit__(self, exc_type: object, exc: object, tb: object) -> None: ...
