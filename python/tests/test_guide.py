"""Every Python example of the guide's chapter (docs/guide/python.md) runs, in order, against
the emulator, as a reader would paste them."""

import pathlib
import re

import pytest

import xp_export

CHAPTER = pathlib.Path(__file__).resolve().parents[2] / "docs" / "guide" / "python.md"


def examples():
    return re.findall(r"```python\n(.*?)```", CHAPTER.read_text(encoding="utf-8"), re.S)


def test_the_chapter_has_examples():
    assert len(examples()) >= 6


def test_every_example_runs(tmp_path, monkeypatch):
    pytest.importorskip("dlt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    with xp_export.Emulator(records=5_000, max_limit=500) as emu:
        monkeypatch.setenv("XTREMEPUSH_API_URL", emu.base_url)
        monkeypatch.setenv("XTREMEPUSH_APPTOKEN", emu.apptoken)
        namespace: dict = {}
        for i, code in enumerate(examples()):
            exec(compile(code, f"{CHAPTER.name} example {i + 1}", "exec"), namespace)
