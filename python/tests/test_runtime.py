"""The GIL is released while waiting, Ctrl-C is heard, and dropping an iterator cancels."""

import gc
import os
import signal
import threading
import time

import pytest

import xp_export


def test_another_thread_runs_while_a_page_is_awaited(slow_emulator):
    client = slow_emulator.client()
    ticks = 0
    stop = threading.Event()

    def count():
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.001)

    counter = threading.Thread(target=count)
    counter.start()
    started = time.monotonic()
    rows = list(client.push_actions(max_rows=2_000, page_size=1000, concurrency=1))
    waited = time.monotonic() - started
    stop.set()
    counter.join()
    assert len(rows) == 2_000 and waited >= 1.0
    # At one tick a millisecond, a thread starved of the GIL would count a handful.
    assert ticks > 200 * waited, (ticks, waited)


def interrupt_in(seconds):
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


def test_ctrl_c_interrupts_a_page_in_flight_within_a_second():
    with xp_export.Emulator(records=10_000, latency=30.0) as emu:
        started = time.monotonic()
        interrupt_in(0.3)
        with pytest.raises(KeyboardInterrupt):
            list(emu.client().push_actions())
        assert time.monotonic() - started < 1.3


def test_dropping_an_iterator_cancels_its_requests():
    with xp_export.Emulator(records=200_000, latency=0.2) as emu:
        it = iter(emu.client().push_actions(page_size=100, concurrency=4))
        next(it)
        del it
        gc.collect()
        time.sleep(0.5)
        settled = emu.requests
        time.sleep(1.0)
        assert emu.requests == settled, "no request after the iterator is gone"
        assert settled < 20


def test_ctrl_c_stops_an_export_with_its_checkpoint_and_resume_finishes_it(tmp_path):
    with xp_export.Emulator(records=20_000, latency=0.05) as emu:
        q = emu.client().push_actions(page_size=500, concurrency=1)
        out = tmp_path / "all.ndjson"
        interrupt_in(0.5)
        with pytest.raises(KeyboardInterrupt):
            xp_export.export(q, str(out), checkpoint_every=0)
        assert not out.exists()
        assert (tmp_path / ".all.ndjson.checkpoint.json").exists()
        report = xp_export.export(q, str(out), resume=True)
        assert report["resumed_at"] and report["resumed_at"] > 0
        clean = tmp_path / "clean.ndjson"
        xp_export.export(q, str(clean))
        assert out.read_bytes() == clean.read_bytes()
        assert report["rows"] == 20_000


def test_an_iterator_read_by_two_threads_at_once_says_so(slow_emulator):
    it = iter(slow_emulator.client().push_actions(page_size=1000, concurrency=1))
    errors = []

    def read():
        try:
            next(it)
        except RuntimeError as e:
            errors.append(str(e))

    first = threading.Thread(target=read)
    first.start()
    time.sleep(0.1)
    read()
    first.join()
    assert errors and "another thread" in errors[0]
