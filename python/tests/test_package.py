"""The installed package carries its type information, and says its version."""

import importlib.metadata
import importlib.resources

import xp_export


def test_the_stubs_and_the_typed_marker_ship_with_the_package():
    files = {f.name for f in importlib.resources.files("xp_export").iterdir()}
    assert {"py.typed", "_native.pyi", "dlt.py"} <= files


def test_the_native_module_is_the_stable_abi_one():
    native = importlib.resources.files("xp_export")
    assert any(f.name.startswith("_native.abi3.") for f in native.iterdir())
    assert importlib.metadata.version("xp-export") == "0.1.0"
    assert xp_export.Client.__module__ == "xp_export"
