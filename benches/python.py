#!/usr/bin/env python3
"""The Python package's figures in one run, printed as the tables of benches/README.md:

    target/ci-venvs/python/bin/python benches/python.py

Run it with a Python that has the package installed (`pip install ./python`, a release
build) and the test requirements (.ci/python-requirements.txt: polars, dlt); `.ci/python`
makes such a venv. It builds the release binary, starts `xp-export emulate` (a process of its
own, the same server for every scenario) and measures, each scenario a process of its own
whose wall time, CPU seconds and peak RSS come from wait4's rusage, the scenarios taking turns
run by run:

1. Batches: --rows rows through `q.batches()` into one polars DataFrame, against the
   command line's Parquet export of the same rows (`xp-export export -o FILE.parquet`);
   and the same rows as dicts (`list(q)`), for the report.
2. Memory: the peak RSS of a process reading --big rows (default 2,000,000) and a quarter
   of them through `q.batches()`, each batch dropped once counted: flat in rows, against the
   bound.
3. dlt: --dlt-rows rows loaded by dlt into its `filesystem` destination, with the package's
   resource (`xp_export.dlt.push_actions`, Parquet) against dlt's own `rest_api` source
   (JSONL), both benches/dlt/pipeline.py.

Every figure is the median of --runs runs (default 3).
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "xp-export")
PIPELINE = os.path.join(ROOT, "benches", "dlt", "pipeline.py")

BATCHES = """
import sys, polars as pl, xp_export
q = xp_export.Client().push_actions(page_size=1000)
df = pl.from_arrow(list(q.batches()))
assert df.height == int(sys.argv[1]), df.height
"""

DICTS = """
import sys, xp_export
rows = list(xp_export.Client().push_actions(page_size=1000))
assert len(rows) == int(sys.argv[1]), len(rows)
"""

STREAMED = """
import sys, xp_export
n = 0
for batch in xp_export.Client().push_actions(page_size=1000).batches():
    n += batch.num_rows
assert n == int(sys.argv[1]), n
"""


class Emulator:
    """`xp-export emulate` on a free port, stopped on exit."""

    def __init__(self, records):
        args = [BIN, "-q", "emulate", "--port", "0", "--records", str(records)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        env = {}
        for _ in range(2):
            key, _, value = self.proc.stdout.readline().strip().partition("=")
            env[key] = value
        self.env = dict(os.environ, XTREMEPUSH_API_URL=env["XTREMEPUSH_API_URL"],
                        XTREMEPUSH_APPTOKEN=env["XTREMEPUSH_APPTOKEN"],
                        RUNTIME__DLTHUB_TELEMETRY="false")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def timed(argv, env):
    """Runs one process to its end: (seconds, CPU seconds, peak RSS in MiB). Its stderr goes
    to a file, read if it fails: a pipe read only at the end would fill and block it."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            sys.exit(f"{' '.join(argv[:3])} failed: {err.read().decode(errors='replace')[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def turns(scenarios, runs):
    """Each scenario run `runs` times, taking turns; the median of each figure."""
    samples = {name: [] for name in scenarios}
    for _ in range(runs):
        for name, run in scenarios.items():
            samples[name].append(run())
    return {name: tuple(statistics.median(v[i] for v in values) for i in range(3))
            for name, values in samples.items()}


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"


def batches(rows, runs):
    py = sys.executable
    with Emulator(rows) as emu, tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.parquet")

        def cli():
            if os.path.exists(out):
                os.remove(out)
            return timed([BIN, "-q", "export", "-o", out], emu.env)

        t = turns({
            "cli": cli,
            "batches": lambda: timed([py, "-c", BATCHES, str(rows)], emu.env),
            "dicts": lambda: timed([py, "-c", DICTS, str(rows)], emu.env),
        }, runs)
    ratio = t["batches"][0] / t["cli"][0]
    return [
        f"| Python: {rows:,} rows, page 1000, concurrency 4, one emulator | time | rows/s | CPU (user + sys) | peak RSS |",
        "|---|---|---|---|---|",
        *(f"| {label} | {t[k][0]:.2f} s | {rows / t[k][0]:,.0f} | {t[k][1]:.2f} s | {t[k][2]:.1f} MiB |"
          for k, label in [("cli", "`xp-export export -o FILE.parquet`"),
                           ("batches", "`pl.from_arrow(list(q.batches()))`"),
                           ("dicts", "`list(q)`: a dict per row")]),
        "",
        "| ratio (wall time, same run) | measured | target |",
        "|---|---|---|",
        f"| batches into polars / the command line's Parquet export | **{ratio:.2f}×** | ≤ 1.3×: {'met' if ratio <= 1.3 else 'missed'} |",
        f"| dicts / batches into polars | {t['dicts'][0] / t['batches'][0]:.2f}× | (report) |",
        "",
    ]


def memory(big, runs):
    py = sys.executable
    lines = ["| Python: peak RSS reading `q.batches()`, each batch dropped | rows | peak RSS | target |",
             "|---|---|---|---|"]
    peaks = []
    for n in (big // 4, big):
        with Emulator(n) as emu:
            peak = turns({"m": lambda: timed([py, "-c", STREAMED, str(n)], emu.env)}, runs)["m"][2]
        peaks.append(peak)
        lines.append(f"| batches | {n:,} | **{peak:.1f} MiB** | ≤ 150 MiB: {'met' if peak <= 150 else 'missed'} |")
    lines += [f"| ratio {big:,} / {big // 4:,} | | **{peaks[1] / peaks[0]:.2f}** | flat |", ""]
    return lines


def dlt_comparison(rows, runs):
    py = sys.executable
    with Emulator(rows) as emu:
        def run(source):
            return lambda: timed([py, PIPELINE, "--rows", str(rows), "--source", source], emu.env)

        t = turns({"xp_export": run("xp_export"), "rest_api": run("rest_api")}, runs)
    version = subprocess.run([py, "-c", "import dlt; print(dlt.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    ratio = t["rest_api"][0] / t["xp_export"][0]
    return [
        f"| dlt {version}: {rows:,} rows into the `filesystem` destination, one emulator | time | rows/s | CPU (user + sys) |",
        "|---|---|---|---|",
        f"| `xp_export.dlt.push_actions` (Arrow tables → Parquet) | {t['xp_export'][0]:.2f} s | {rows / t['xp_export'][0]:,.0f} | {t['xp_export'][1]:.2f} s |",
        f"| dlt's `rest_api` source (JSONL) | {t['rest_api'][0]:.2f} s | {rows / t['rest_api'][0]:,.0f} | {t['rest_api'][1]:.2f} s |",
        "",
        "| ratio (wall time, same run) | measured | target |",
        "|---|---|---|",
        f"| `rest_api` / `xp_export.dlt` | **{ratio:.1f}×** | ≥ 10×: {'met' if ratio >= 10 else 'missed'} |",
        "",
    ]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--big", type=int, default=2_000_000, help="rows for the memory run")
    p.add_argument("--dlt-rows", type=int, default=1_000_000)
    p.add_argument("--only", default="batches,memory,dlt")
    args = p.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "xp-export-cli"], cwd=ROOT, check=True)
    only = args.only.split(",")
    out = [f"Machine: {machine()}; Python {platform.python_version()}.", ""]
    if "batches" in only:
        out += batches(args.rows, args.runs)
    if "memory" in only:
        out += memory(args.big, args.runs)
    if "dlt" in only:
        out += dlt_comparison(args.dlt_rows, args.runs)
    print("\n".join(out))


if __name__ == "__main__":
    main()
