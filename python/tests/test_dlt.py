"""The dlt resource loads each row once into dlt's DuckDB destination, run after run."""

import pytest

dlt = pytest.importorskip("dlt")
duckdb = pytest.importorskip("duckdb")

import xp_export  # noqa: E402
import xp_export.dlt  # noqa: E402


def loaded(path):
    with duckdb.connect(str(path)) as db:
        return [r[0] for r in db.sql("select action_id from xp.push_actions order by 1").fetchall()]


def test_runs_load_exactly_the_emulators_rows_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    monkeypatch.setenv("DLT_PROJECT_DIR", str(tmp_path))
    db = tmp_path / "load.duckdb"
    with xp_export.Emulator(records=3_000) as emu:
        client = emu.client()
        pipeline = dlt.pipeline(
            pipeline_name="xp",
            destination=dlt.destinations.duckdb(str(db)),
            dataset_name="xp",
            pipelines_dir=str(tmp_path / "pipelines"),
        )
        pipeline.run(xp_export.dlt.push_actions(client, page_size=1000))
        want = sorted(r["action_id"] for r in client.push_actions())
        assert loaded(db) == want
        before = emu.requests
        pipeline.run(xp_export.dlt.push_actions(client, page_size=1000))
        assert loaded(db) == want, "a second run loads nothing again"
        emu.insert(250)
        pipeline.run(xp_export.dlt.push_actions(client, page_size=1000))
        now = sorted(r["action_id"] for r in client.push_actions())
        assert len(now) == 3_250
        assert loaded(db) == now
        assert emu.requests > before
