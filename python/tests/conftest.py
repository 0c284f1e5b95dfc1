"""Fixtures: the library's emulator, started in-process by the package itself."""

import pytest

import xp_export

ROWS = 2_500


@pytest.fixture
def emulator():
    with xp_export.Emulator(records=ROWS, max_limit=500) as emu:
        yield emu


@pytest.fixture
def client(emulator):
    return emulator.client()


@pytest.fixture
def slow_emulator():
    """An emulator whose every answer takes half a second: a page is always in flight."""
    with xp_export.Emulator(records=50_000, latency=0.5) as emu:
        yield emu
