"""Rows, batches and exports of one query agree with each other and with the emulator."""

import asyncio
import datetime as dt
import json

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import xp_export
from conftest import ROWS


def ndjson_rows(query, path):
    report = xp_export.export(query, str(path))
    assert report["complete"] is True
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f], report


def test_rows_equal_an_ndjson_export_of_the_same_query(client, tmp_path):
    q = client.push_actions(page_size=1000)
    rows = list(q)
    exported, report = ndjson_rows(q, tmp_path / "day.ndjson")
    assert len(rows) == ROWS
    assert rows == exported
    assert report["rows"] == ROWS
    assert len({r["action_id"] for r in rows}) == ROWS


def test_batches_hold_the_same_rows_typed_one_batch_per_page(client):
    q = client.push_actions(page_size=1000)
    rows = list(q)
    batches = list(q.batches())
    assert all(isinstance(b, pa.RecordBatch) for b in batches)
    table = pa.Table.from_batches(batches)
    assert table.num_rows == ROWS
    assert table.schema.field("action_id").type == pa.int64()
    assert table.schema.field("create_time").type == pa.timestamp("ms", tz="UTC")
    assert table.column("action_id").to_pylist() == [r["action_id"] for r in rows]
    assert table.column("error_message").to_pylist() == [r["error_message"] for r in rows]
    seconds = [int(t.timestamp()) for t in table.column("create_time").to_pylist()]
    assert seconds == [r["create_time"] for r in rows]
    assert all(b.schema == batches[0].schema for b in batches)


def test_polars_duckdb_and_pandas_take_the_batches(client):
    batches = list(client.push_actions(page_size=1000).batches())
    first = batches[0]
    df = pl.from_arrow(first)
    # polars shares the Arrow buffer of an integer column: no copy of the values.
    ours = first.column(first.schema.get_field_index("action_id")).buffers()[1].address
    theirs = df["action_id"].to_arrow().buffers()[1].address
    assert ours == theirs
    tbl = pa.Table.from_batches(batches)
    total = duckdb.sql("select count(*), sum(action_id) from tbl").fetchall()[0]
    assert total == (ROWS, sum(tbl.column("action_id").to_pylist()))
    frame = tbl.to_pandas()
    assert isinstance(frame, pd.DataFrame) and len(frame) == ROWS
    assert pl.from_arrow(tbl).height == ROWS


def test_async_for_gives_the_same_rows(client):
    q = client.push_actions(page_size=700)

    async def read():
        return [row async for row in q]

    assert asyncio.run(read()) == list(q)


def test_filters_select_and_order_reach_the_api(client, emulator):
    every = list(client.push_actions())
    campaign = every[0]["campaign_id"]
    cut = sorted(r["create_time"] for r in every)[len(every) // 2]
    q = client.push_actions(
        campaign=campaign,
        failed=True,
        where=["device_id > 5"],
        since=cut,
        select=["action_id", "campaign_id", "error", "device_id", "create_time"],
        order="action_id DESC",
        page_size=100,
    )
    rows = list(q)
    want = [
        r for r in every
        if r["campaign_id"] == campaign and r["error"] == 1 and r["device_id"] > 5
        and r["create_time"] >= cut
    ]
    assert rows, "the filters leave rows to check"
    assert sorted(r["action_id"] for r in rows) == sorted(r["action_id"] for r in want)
    assert [r["action_id"] for r in rows] == sorted((r["action_id"] for r in rows), reverse=True)
    assert all(set(r) == {"action_id", "campaign_id", "error", "device_id", "create_time"} for r in rows)


def test_since_and_until_take_dates_date_times_and_unix_seconds(client):
    every = list(client.push_actions())
    times = sorted(r["create_time"] for r in every)
    low, high = times[len(times) // 4], times[3 * len(times) // 4]
    as_datetime = dt.datetime.fromtimestamp(low, tz=dt.timezone.utc)
    forms = [low, str(low), as_datetime, as_datetime.isoformat().replace("+00:00", "Z")]
    counts = {len(list(client.push_actions(since=s, until=high))) for s in forms}
    want = sum(1 for t in times if low <= t < high)
    assert counts == {want}
    day = dt.datetime.fromtimestamp(low, tz=dt.timezone.utc).date()
    midnight = int(dt.datetime.combine(day, dt.time(), dt.timezone.utc).timestamp())
    by_day = len(list(client.push_actions(since=day.isoformat())))
    assert by_day == sum(1 for t in times if t >= midnight)


def test_list_reads_any_model_as_dicts(client):
    assert list(client.list("push-devices", page_size=900)) == list(client.push_actions())


def test_summary_during_and_after_an_iteration(client, emulator):
    q = client.push_actions(page_size=500, concurrency=1)
    assert q.summary()["rows"] == 0
    it = iter(q)
    next(it)
    during = q.summary()
    assert during["rows"] == 500 and during["complete"] is False
    rest = list(it)
    after = q.summary()
    assert len(rest) == ROWS - 1
    assert after["rows"] == ROWS and after["complete"] is True
    assert after["end"]["reason"] in ("short_page", "empty_page")
    assert after["requests"] == emulator.requests


def test_max_rows_stops_early(client):
    assert len(list(client.push_actions(max_rows=1234, page_size=500))) == 1234


@pytest.mark.parametrize("name", ["day.csv", "day.json", "day.ndjson.gz", "day.parquet"])
def test_export_writes_every_format_and_a_rerun_finds_it_complete(client, tmp_path, name):
    q = client.push_actions(page_size=1000)
    path = tmp_path / name
    report = xp_export.export(q, str(path))
    assert report["rows"] == ROWS and report["path"] == str(path)
    if name.endswith(".parquet"):
        assert pq.read_table(path).column("action_id").to_pylist() == [r["action_id"] for r in q]
    visible = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert visible == [name], "the output stands alone: side files are hidden"
    first = path.read_bytes()
    again = xp_export.export(q, str(path), resume=True)
    assert again["already_complete"] is True and again["rows"] == ROWS
    assert path.read_bytes() == first


def test_export_without_a_known_extension_asks_for_a_format(client, tmp_path):
    with pytest.raises(xp_export.ConfigError, match="format="):
        xp_export.export(client.push_actions(), str(tmp_path / "day"))
    report = xp_export.export(client.push_actions(), str(tmp_path / "day"), format="csv")
    assert (tmp_path / "day").read_text().splitlines()[0].startswith("action_id,")
    assert report["rows"] == ROWS
