"""A dlt source of push actions: ``pipeline.run(xp_export.dlt.push_actions(campaign=...))``.

Rows come as Arrow tables (dlt's fastest path), pages gathered into tables of
:data:`TABLE_ROWS` rows, ``action_id`` is the primary key, and
dlt's ``incremental`` on ``action_id`` is the library's incremental start: a run asks only for
rows past the last ``action_id`` the pipeline loaded (keyset mode, ascending ``action_id``), so
each row is loaded once across runs.

Needs dlt: ``pip install "./python[dlt]"``.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, Optional

import dlt
import pyarrow as pa

from xp_export import Client, ConfigError

__all__ = ["push_actions"]

#: Rows a table handed to dlt holds: pages are gathered into tables of this many rows (the
#: last one smaller), since dlt's cost per item (schema merge, buffered writer) outweighs a
#: page's own; the pages' buffers are shared, not copied.
TABLE_ROWS = 50_000

#: Keywords that tune how rows are fetched, not which: a run may change them freely.
_TUNING = {"page_size", "concurrency", "max_rps", "retry_budget", "reorder_window", "seam_check"}


def push_actions(
    client: Optional[Client] = None,
    *,
    name: str = "push_actions",
    write_disposition: str = "append",
    **query: Any,
) -> Any:
    """A dlt resource of the push actions ``client.push_actions(**query)`` reads.

    ``client`` defaults to ``xp_export.Client()`` (credentials from the environment). The
    query's ``order``, ``mode`` and ``start_after`` are the resource's own: rows come in
    ascending ``action_id``, from after the last one loaded. The resource's state remembers
    the query it was loaded for: a run with other rows asked for (another campaign, another
    filter) under the same ``name`` fails instead of skipping rows.
    """
    for own in ("order", "mode", "start_after"):
        if own in query:
            raise TypeError(
                f"{own}= is set by the resource: it reads in ascending action_id from the "
                "last one loaded"
            )

    rows_asked = json.dumps(
        {k: v for k, v in sorted(query.items()) if k not in _TUNING}, default=str
    )

    @dlt.resource(name=name, primary_key="action_id", write_disposition=write_disposition)
    def resource(
        action_id: dlt.sources.incremental[int] = dlt.sources.incremental(
            "action_id", initial_value=None
        ),
    ) -> Iterator[pa.Table]:
        c = client if client is not None else Client()
        # The incremental state is the resource's: a last action_id loaded for other rows
        # (another campaign, another filter) would skip this query's rows below it.
        state = dlt.current.resource_state()
        loaded_for = state.setdefault("xp_export_query", rows_asked)
        if loaded_for != rows_asked and action_id.last_value is not None:
            err = ConfigError(
                f"the resource {name!r} of this pipeline was loaded for the query {loaded_for}, "
                f"not {rows_asked}: its last action_id would skip rows of this one; give this "
                "query a name of its own (name=...), or reset the resource's state"
            )
            err.kind = "config"
            raise err
        state["xp_export_query"] = rows_asked
        after = action_id.last_value
        q = c.push_actions(
            order="action_id ASC", mode="keyset", start_after=after, **query
        )
        held: list[pa.RecordBatch] = []
        rows = 0
        for batch in q.batches():
            held.append(batch)
            rows += batch.num_rows
            if rows >= TABLE_ROWS:
                yield pa.Table.from_batches(held)
                held, rows = [], 0
        if held:
            yield pa.Table.from_batches(held)

    return resource()
