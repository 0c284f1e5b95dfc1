"""Export the Xtremepush external API's list methods without losing or duplicating a row.

>>> import xp_export
>>> client = xp_export.Client()              # credentials and URL from the environment
>>> q = client.push_actions(campaign=245624, failed=True, since="2026-11-01")
>>> for row in q: ...                        # one dict per row, as the API sent it
>>> for batch in q.batches(): ...            # one pyarrow.RecordBatch per page
>>> xp_export.export(q, "out.parquet", resume=True)

The rows come from the library ``xp-export`` (Rust): pages fetched several at a time and
retried with backoff, silent page caps and offset drift detected, memory bounded whatever the
result's size. Waiting on the network releases the GIL; Ctrl-C interrupts within a tenth of a
second; dropping an iterator cancels its requests.
"""

from xp_export._native import (
    ApiError,
    AsyncRowIter,
    BatchIter,
    Client,
    ConfigError,
    Error,
    OutputError,
    Query,
    RefusedError,
    RowIter,
    export,
)

try:
    from xp_export._native import Emulator
except ImportError:  # a build without the emulator
    pass

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
