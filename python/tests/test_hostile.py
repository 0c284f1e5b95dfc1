"""What a careless caller or an odd server does must lose no row and hide no failure."""

import asyncio
import json
import os
import signal
import threading
import time

import pytest

import xp_export
from server import Api


@pytest.mark.parametrize("read", ["rows", "batches"])
def test_a_caller_that_catches_ctrl_c_during_a_wait_and_reads_on_loses_no_row(read):
    with xp_export.Emulator(records=1_500, latency=1.0) as emu:
        q = emu.client().push_actions(page_size=500, concurrency=1)
        it = iter(q) if read == "rows" else q.batches()
        # One SIGINT while the first page is on the wire (it takes a second to come).
        threading.Timer(0.4, os.kill, (os.getpid(), signal.SIGINT)).start()
        got, interrupts = [], 0
        while True:
            try:
                item = next(it)
            except KeyboardInterrupt:
                interrupts += 1
                continue
            except StopIteration:
                break
            if read == "rows":
                got.append(item["action_id"])
            else:
                got.extend(item.column("action_id").to_pylist())
        assert interrupts == 1
        assert got == [r["action_id"] for r in emu.client().push_actions()]


def test_an_interrupt_while_a_page_becomes_dicts_keeps_the_page(client, monkeypatch):
    loads, calls = json.loads, []

    def interrupted_once(text, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", interrupted_once)
    it = iter(client.push_actions(page_size=1000))
    with pytest.raises(KeyboardInterrupt):
        next(it)
    monkeypatch.setattr(json, "loads", loads)
    got = [r["action_id"] for r in it]
    assert got == [r["action_id"] for r in client.push_actions()]


def test_a_page_python_cannot_read_ends_the_rows_with_a_decode_error(client, monkeypatch):
    loads, calls = json.loads, []

    def refusing(text, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("Exceeds the limit (4300 digits) for integer string conversion")
        return loads(text, *args, **kwargs)

    monkeypatch.setattr(json, "loads", refusing)
    it = iter(client.push_actions(page_size=1000, concurrency=1))
    got = []
    with pytest.raises(xp_export.ApiError) as e:
        for row in it:
            got.append(row)
    assert e.value.kind == "decode" and e.value.offset == len(got) > 0
    assert "4300 digits" in str(e.value)
    assert isinstance(e.value.__cause__, ValueError)
    with pytest.raises(StopIteration):
        next(it)


def test_async_reads_cancelled_by_timeouts_lose_no_row():
    with xp_export.Emulator(records=2_000, latency=0.02) as emu:
        q = emu.client().push_actions(page_size=100, concurrency=2)

        async def read():
            it, got, timeouts = q.__aiter__(), [], 0
            while True:
                try:
                    row = await asyncio.wait_for(it.__anext__(), 0.005)
                except asyncio.TimeoutError:
                    timeouts += 1
                    continue
                except StopAsyncIteration:
                    return got, timeouts
                got.append(row["action_id"])

        got, timeouts = asyncio.run(read())
        assert timeouts > 0
        assert got == [r["action_id"] for r in emu.client().push_actions()]


def test_a_csv_export_says_which_fields_it_has_no_column_for(tmp_path):
    rows = [json.dumps({"action_id": 10 - i, "a": i}) for i in range(5)]
    rows += [json.dumps({"action_id": 5 - i, "a": i, "late": "x"}) for i in range(3)]
    with Api(rows) as api:
        client = xp_export.Client(api_url=api.url, apptoken="token-of-the-test")
        report = xp_export.export(client.list("things", page_size=5), str(tmp_path / "t.csv"))
    assert report["rows"] == 8
    assert report["left_out_fields"] == ["late"]
    assert any("late" in w for w in report["warnings"])


def test_the_dlt_resource_refuses_state_loaded_for_another_query(tmp_path, monkeypatch):
    dlt = pytest.importorskip("dlt")
    import xp_export.dlt

    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    with xp_export.Emulator(records=3_000) as emu:
        client = emu.client()
        pipeline = dlt.pipeline(
            pipeline_name="xp",
            destination=dlt.destinations.duckdb(str(tmp_path / "load.duckdb")),
            dataset_name="xp",
            pipelines_dir=str(tmp_path / "pipelines"),
        )
        pipeline.run(xp_export.dlt.push_actions(client, failed=True))
        with pytest.raises(Exception) as e:
            pipeline.run(xp_export.dlt.push_actions(client))
        assert "loaded for the query" in str(e.value)
        pipeline.run(xp_export.dlt.push_actions(client, name="everything"))
        import duckdb

        with duckdb.connect(str(tmp_path / "load.duckdb")) as db:
            counted = db.sql("select count(*) from xp.everything").fetchall()[0][0]
        assert counted == len(list(client.push_actions()))


@pytest.mark.parametrize(
    "keywords, error, words",
    [
        ({"start_after": 5}, xp_export.ConfigError, "keyset"),
        ({"since": 200, "until": 100}, xp_export.ConfigError, "not before until"),
        ({"page_size": -1}, ValueError, "page_size=-1"),
        ({"select": "action_id"}, TypeError, "select="),
        ({"order": 5}, TypeError, "order=5"),
        ({"since": 1e300}, ValueError, "since"),
    ],
)
def test_careless_keywords_are_refused_naming_the_keyword(client, keywords, error, words):
    with pytest.raises(error) as e:
        list(client.push_actions(**keywords))
    assert words in str(e.value)


def test_ctrl_c_stops_an_export_stuck_on_an_output_nobody_reads(tmp_path, client):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # opened, never read
    try:
        started = time.monotonic()
        timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            xp_export.export(client.push_actions(page_size=1000), str(fifo), format="ndjson")
        assert time.monotonic() - started < 8
    finally:
        os.close(reader)


def test_a_lone_surrogate_in_batches_is_u_fffd_as_in_a_parquet_export(tmp_path):
    rows = ['{"action_id":3,"error_message":"bad \\ud800 text"}', '{"action_id":2,"\\udc00k":1}']
    with Api(rows) as api:
        client = xp_export.Client(api_url=api.url, apptoken="token-of-the-test")
        q = client.push_actions(page_size=10)
        batch = next(iter(q.batches()))
        xp_export.export(q, str(tmp_path / "rows.parquet"))
    import pyarrow.parquet as pq

    assert batch.column("error_message").to_pylist() == ["bad \ufffd text", None]
    assert pq.read_table(tmp_path / "rows.parquet").column("error_message").to_pylist() == [
        "bad \ufffd text",
        None,
    ]
    assert batch.num_rows == 2
