#!/usr/bin/env python3
"""Reproduces the README's Performance table in one run: `python3 benches/perf.py`.

Builds the release binary, starts `xp-export emulate` for each scenario, and measures:

1. Throughput: export N rows (default flags, page 1000, concurrency 4) against one emulator,
   the scenarios taking turns run by run: `-o FILE`; the same to standard output redirected
   to a file; `-o FILE --checkpoint-every 0` (a checkpoint after every page); stdout to
   /dev/null without the seam check; keyset mode; and every row decoded into `PushAction`
   through the library (`examples/typed_rows.rs`). Baselines: curl fetching the same pages over
   kept-alive connections, one at a time and `--parallel --parallel-max 4`, discarding the
   bodies, and `--parallel` writing them to a file (standard output redirected to it). Wall
   time, and CPU seconds (user + sys, from wait4's rusage) per million rows.
2. Latency hiding: 20 ms per page, 200 pages, concurrency 1, 2, 4, 8, 16; and keyset mode,
   sequential pages vs key ranges in parallel (--mode keyset --concurrency 4, 8).
3. Memory: peak RSS of the exporter at 50,000 and 5,000,000 rows (from wait4's rusage).
4. Faults: 30% of requests failing with 500 / reset / truncated body, vs fault-free, at 20 ms
   per page, with the default backoff and with a 10 ms base.
5. The emulator itself: time from its start to its first page answered, and its peak RSS
   (VmHWM from /proc/PID/status, Linux only) after a first page, a page deep in the data set
   and a keyset seek, at 2,000,000 and 50,000,000 records (--emulator-records).
6. Object stores: the same --rows to `s3://` on a local S3 server (moto's, installed from
   .ci/s3-requirements.txt into target/ci-venvs/s3) against `-o FILE`, in turns; the
   exporter's peak RSS at --s3-rows rows (default 2,000,000) to `s3://`, against the bound.
7. dlt: the same 200,000 rows (--dlt-rows) from the same emulator, xp-export `export -o FILE`
   against a dlt pipeline (benches/dlt/pipeline.py: the `rest_api` source paging by offset and
   limit, into the `filesystem` destination as JSONL), the two taking turns run by run. dlt is
   installed from benches/dlt/requirements.txt into target/bench-venv-dlt, made once and
   reused; when it cannot be made (no network), the scenario says so and is skipped.

Every figure is the median of --runs runs (default 5; 3 for the 5M-row memory runs).
Nothing here is timed inside a test: this is the benchmark.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "xp-export")
TYPED = os.path.join(ROOT, "target", "release", "examples", "typed_rows")
DLT_DIR = os.path.join(ROOT, "benches", "dlt")
DLT_VENV = os.path.join(ROOT, "target", "bench-venv-dlt")


def build():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "typed_rows"],
                   cwd=ROOT, check=True)


class Emulator:
    """`xp-export emulate` on a free port, stopped on exit."""

    def __init__(self, records, latency_ms=0, fault_rate=0.0, faults=None, max_limit=None):
        args = [BIN, "-q", "emulate", "--port", "0", "--records", str(records),
                "--latency-ms", str(latency_ms), "--fault-rate", str(fault_rate)]
        if faults:
            args += ["--faults", faults]
        if max_limit:
            args += ["--max-limit", str(max_limit)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        env = {}
        for _ in range(2):
            key, _, value = self.proc.stdout.readline().strip().partition("=")
            env[key] = value
        self.url = env["XTREMEPUSH_API_URL"]
        self.token = env["XTREMEPUSH_APPTOKEN"]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def timed(argv, env=None, stdout=subprocess.DEVNULL):
    """Runs one process to its end; returns (seconds, CPU seconds (user + sys), peak RSS in
    KiB), the last two from its own rusage (wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode()
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"{os.path.basename(argv[0])} failed ({proc.returncode}): {err}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def emu_env(emu):
    return dict(os.environ, XTREMEPUSH_API_URL=emu.url, XTREMEPUSH_APPTOKEN=emu.token)


def run_export_full(emu, *args, stdout=subprocess.DEVNULL):
    """Runs one export; returns (seconds, CPU seconds, peak RSS in KiB)."""
    return timed([BIN, "-q", "export", *args], emu_env(emu), stdout)


def run_export(emu, *args, stdout=subprocess.DEVNULL):
    """Runs one export; returns (seconds, peak RSS in KiB)."""
    elapsed, _, rss = run_export_full(emu, *args, stdout=stdout)
    return elapsed, rss


def curl_config(emu, rows, page_size, path, output):
    """A curl config fetching every page of `rows` rows, as the export asks for them, each
    body to `output` (None: curl's standard output)."""
    with open(path, "w") as f:
        pages = (rows + page_size - 1) // page_size + (1 if rows % page_size == 0 else 0)
        for i in range(pages):
            body = json.dumps({"apptoken": emu.token, "limit": page_size,
                               "offset": i * page_size})
            if i:
                f.write("next\n")
            f.write(f'url = "{emu.url}/list/push-devices"\n')
            f.write('header = "content-type: application/json"\n')
            f.write(f"data = {json.dumps(body)}\n")
            if output:
                f.write(f'output = "{output}"\n')


def curl_run(config, parallel, stdout=subprocess.DEVNULL):
    """Runs curl on a config; returns (seconds, CPU seconds, peak RSS in KiB)."""
    args = ["curl", "-s", "--no-progress-meter", "--fail", "-K", config]
    if parallel > 1:
        args += ["--parallel", "--parallel-max", str(parallel), "--parallel-immediate"]
    return timed(args, stdout=stdout)


def median(f, runs):
    values = [f() for _ in range(runs)]
    return statistics.median(values), values


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows for throughput and faults")
    p.add_argument("--big", type=int, default=5_000_000, help="rows for the large memory run")
    p.add_argument("--concurrency", type=int, default=4, help="pages in flight for throughput and faults")
    p.add_argument("--emulator-records", default="2000000,50000000",
                   help="comma-separated data set sizes for the emulator scenario")
    p.add_argument("--dlt-rows", type=int, default=200_000, help="rows for the dlt comparison")
    p.add_argument("--s3-rows", type=int, default=2_000_000, help="rows for the memory run to s3://")
    p.add_argument("--only", default="throughput,latency,keyset,memory,faults,emulator,parquet,object,dlt",
                   help="comma-separated scenarios to run (default: all)")
    args = p.parse_args()
    if not shutil.which("curl"):
        sys.exit("curl is needed for the baseline")
    build()
    runs, rows, k = args.runs, args.rows, args.concurrency
    page = 1000
    out = [f"Machine: {machine()}. Medians of {runs} runs.", ""]

    only = set(args.only.split(","))

    # 1. Throughput.
    if "throughput" in only:
        out += throughput(rows, page, k, runs)
    if "latency" in only:
        out += latency(page, runs)
    if "keyset" in only:
        out += keyset_latency(page, runs)
    if "memory" in only:
        out += memory(page, k, runs, args.big)
    if "faults" in only:
        out += faults(page, k, runs)
    if "emulator" in only:
        out += emulator_footprint(page, runs, [int(n) for n in args.emulator_records.split(",")])
    if "parquet" in only:
        out += parquet(rows, page, k, runs, args.big)
    if "object" in only:
        out += object_store(rows, page, k, runs, args.s3_rows)
    if "dlt" in only:
        out += dlt_comparison(page, runs, args.dlt_rows)
    print("\n".join(out))


def throughput(rows, page, k, runs):
    """Every scenario once per run, in turns, against one emulator, so that a disturbance
    (the machine is shared) falls on all of them alike; medians per scenario."""
    common = ["--page-size", str(page), "--concurrency", str(k)]
    results = {}
    with Emulator(rows) as emu, tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.ndjson")
        config = os.path.join(tmp, "curl.cfg")
        curl_config(emu, rows, page, config, "/dev/null")
        file_config = os.path.join(tmp, "curl-stdout.cfg")
        curl_config(emu, rows, page, file_config, None)

        def fresh():
            for name in os.listdir(tmp):
                if name.startswith("rows.") or name.startswith(".rows."):
                    os.remove(os.path.join(tmp, name))

        def to_file(run):
            def go():
                fresh()
                with open(out, "wb") as f:
                    return run(f)
            return go

        scenarios = {
            "curl1": lambda: curl_run(config, 1),
            "curlk": lambda: curl_run(config, k),
            "curlk_file": to_file(lambda f: curl_run(file_config, k, stdout=f)),
            "file": lambda: (fresh(), run_export_full(emu, "-o", out))[1],
            "stdout": to_file(lambda f: run_export_full(emu, stdout=f)),
            "every_page": lambda: (fresh(), run_export_full(emu, "-o", out, "--checkpoint-every", "0"))[1],
            "unchecked": lambda: run_export_full(emu, *common, "--no-seam-check"),
            "keyset": lambda: run_export_full(emu, "--page-size", str(page), "--mode", "keyset"),
            "typed": lambda: timed([TYPED], emu_env(emu)),
        }
        samples = {name: [] for name in scenarios}
        for _ in range(runs):
            for name, run in scenarios.items():
                samples[name].append(run())
        for name, values in samples.items():
            results[name] = (statistics.median(v[0] for v in values),
                             statistics.median(v[1] for v in values))
    base = results["curlk_file"][0]
    million = rows / 1e6

    def row(label, name, bold=False):
        t, cpu = results[name]
        ratio = f"{t / base:.2f}×"
        return (f"| {label} | {t:.2f} s | {rows / t:,.0f} | {cpu / million:.2f} s | "
                + (f"**{ratio}** |" if bold else f"{ratio} |"))

    def ratio(label, a, b, target):
        return f"| {label} | **{results[a][0] / results[b][0]:.2f}×** | {target} |"

    return [f"| throughput: {rows:,} rows, page {page}, concurrency {k} | time | rows/s | CPU per 1M rows | vs curl --parallel {k} → file |",
            "|---|---|---|---|---|",
            row("curl, one request at a time (bodies discarded)", "curl1"),
            row(f"curl --parallel {k} (bodies discarded)", "curlk"),
            row(f"curl --parallel {k}, bodies written to a file", "curlk_file"),
            row("xp-export export -o FILE (default flags)", "file", True),
            row("the same to standard output, redirected to a file", "stdout"),
            row("-o FILE --checkpoint-every 0 (a checkpoint after every page)", "every_page"),
            row("stdout to /dev/null, without the seam check", "unchecked"),
            row("keyset mode (sequential pages), stdout to /dev/null", "keyset"),
            row("typed rows through the library (`PushAction`, examples/typed_rows.rs)", "typed"),
            "",
            "| ratio (wall time, same run) | measured | target |",
            "|---|---|---|",
            ratio(f"-o FILE / curl --parallel {k} → file", "file", "curlk_file", "≤ 1.5×"),
            ratio("-o FILE / the same to standard output", "file", "stdout", "≤ 1.1×"),
            ratio("--checkpoint-every 0 / the default (1 s)", "every_page", "file", ""),
            ratio("typed rows through the library / the CLI's raw export -o FILE", "typed", "file", "≤ 1.5×"),
            ""]


def latency(page, runs):
    out = []
    pages = 200
    out += ["| latency hiding: 20 ms per page, %d pages | time | speed-up over 1 |" % pages,
            "|---|---|---|"]
    with Emulator(pages * page - 1, latency_ms=20) as emu:
        times = {}
        for c in [1, 2, 4, 8, 16]:
            times[c], _ = median(lambda: run_export(emu, "--page-size", str(page), "--concurrency", str(c))[0], runs)
            out.append(f"| concurrency {c} | {times[c]:.2f} s | **{times[1] / times[c]:.1f}×** |")
    out.append("")
    return out


def keyset_latency(page, runs):
    """Keyset mode at 20 ms per page: sequential pages vs key ranges walked in parallel."""
    pages = 200
    rows = pages * page - 1
    out = ["| keyset mode: 20 ms per page, %d pages | time | rows/s | speed-up over sequential |" % pages,
           "|---|---|---|---|"]
    with Emulator(rows, latency_ms=20) as emu:
        base = ["--page-size", str(page), "--mode", "keyset"]
        seq, _ = median(lambda: run_export(emu, *base)[0], runs)
        out.append(f"| sequential pages (--mode keyset) | {seq:.2f} s | {rows / seq:,.0f} | 1.0× |")
        for c in [4, 8]:
            t, _ = median(lambda: run_export(emu, *base, "--concurrency", str(c))[0], runs)
            out.append(f"| key ranges in parallel, --concurrency {c} | {t:.2f} s | {rows / t:,.0f} | **{seq / t:.1f}×** |")
    out.append("")
    return out


def memory(page, k, runs, big):
    out = []
    out += ["| memory: peak RSS of the exporter | rows | peak RSS |", "|---|---|---|"]
    rss = {}
    for n, r in [(50_000, runs), (big, max(1, min(runs, 3)))]:
        with Emulator(n) as emu:
            rss[n], _ = median(lambda: run_export(emu, "--page-size", str(page), "--concurrency", str(k))[1], r)
        out.append(f"| NDJSON, concurrency {k} | {n:,} | {rss[n] / 1024:.1f} MiB |")
    out.append(f"| ratio {big:,} / 50,000 | | **{rss[big] / rss[50_000]:.2f}** |")
    out.append("")
    return out


def parquet(rows, page, k, runs, big):
    """The same rows as NDJSON, NDJSON.gz and Parquet (zstd), in turns against one emulator:
    time, CPU and size; then Parquet's peak RSS at 50,000 rows and at `big` rows."""
    common = ["--page-size", str(page), "--concurrency", str(k)]
    kinds = [("NDJSON", "rows.ndjson"), ("NDJSON.gz", "rows.ndjson.gz"),
             ("Parquet (zstd)", "rows.parquet")]
    times = {name: [] for name, _ in kinds}
    cpus = {name: [] for name, _ in kinds}
    sizes = {}
    with Emulator(rows) as emu, tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            for name, file in kinds:
                path = os.path.join(tmp, file)
                for leftover in os.listdir(tmp):
                    os.remove(os.path.join(tmp, leftover))
                elapsed, cpu, _ = run_export_full(emu, *common, "-o", path)
                times[name].append(elapsed)
                cpus[name].append(cpu)
                sizes[name] = os.path.getsize(path)
    base_t = statistics.median(times["NDJSON"])
    out = [f"| parquet: {rows:,} rows, page {page}, concurrency {k} | time | CPU (user + sys) "
           "| size | time vs NDJSON | size vs NDJSON |", "|---|---|---|---|---|---|"]
    for name, _ in kinds:
        t, c = statistics.median(times[name]), statistics.median(cpus[name])
        out.append(f"| {name} | {t:.2f} s | {c:.2f} s | {sizes[name] / 1e6:.1f} MB "
                   f"| **{t / base_t:.2f}×** | {sizes[name] / sizes['NDJSON']:.3f} |")
    out.append("")
    # 50,000 rows never fill a row group (100,000 rows by default); from 500,000 on, every
    # row group is full, and memory should not grow with the rows.
    out += ["| parquet: peak RSS of the exporter | rows | peak RSS |", "|---|---|---|"]
    rss = {}
    for n, r in [(50_000, runs), (500_000, runs), (big, max(1, min(runs, 3)))]:
        with Emulator(n) as emu, tempfile.TemporaryDirectory() as tmp:
            def one():
                for leftover in os.listdir(tmp):
                    os.remove(os.path.join(tmp, leftover))
                return run_export(emu, *common, "-o", os.path.join(tmp, "rows.parquet"))[1]
            rss[n], _ = median(one, r)
        out.append(f"| Parquet (zstd), default row groups | {n:,} | {rss[n] / 1024:.1f} MiB |")
    out.append(f"| ratio {big:,} / 500,000 | | **{rss[big] / rss[500_000]:.2f}** |")
    out.append("")
    return out


S3_VENV = os.path.join(ROOT, "target", "ci-venvs", "s3")


class S3:
    """moto's S3 server on a free port, with one bucket, stopped on exit."""

    def __enter__(self):
        server = os.path.join(S3_VENV, "bin", "moto_server")
        if not os.path.exists(server):
            subprocess.run([sys.executable, "-m", "venv", S3_VENV], check=True)
            subprocess.run([os.path.join(S3_VENV, "bin", "pip"), "install", "--quiet", "-r",
                            os.path.join(ROOT, ".ci", "s3-requirements.txt")], check=True)
        import socket
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.proc = subprocess.Popen([server, "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import http.client
        for _ in range(200):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                conn.request("PUT", "/bench")
                if conn.getresponse().status == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        sys.exit("moto_server did not start")

    def env(self, emu):
        return dict(emu_env(emu), AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                    AWS_REGION="us-east-1", AWS_ENDPOINT_URL=f"http://127.0.0.1:{self.port}",
                    AWS_ALLOW_HTTP="true")

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait()


def object_store(rows, page, k, runs, big):
    """`-o s3://` on a local S3 server against `-o FILE`, in turns; peak RSS to s3:// at `big`
    rows against the 100 MiB bound."""
    common = ["--page-size", str(page), "--concurrency", str(k)]
    times = {"file": [], "s3": []}
    cpus = {"file": [], "s3": []}
    rss = {"file": [], "s3": []}
    with Emulator(rows) as emu, S3() as s3, tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "rows.ndjson")
        for _ in range(runs):
            for name in ("file", "s3"):
                if name == "file":
                    if os.path.exists(path):
                        os.remove(path)
                    argv = [BIN, "-q", "export", *common, "-o", path]
                else:
                    argv = [BIN, "-q", "export", *common, "--restart", "-o", "s3://bench/rows.ndjson"]
                elapsed, cpu, peak = timed(argv, s3.env(emu))
                times[name].append(elapsed)
                cpus[name].append(cpu)
                rss[name].append(peak)
    t = {n: statistics.median(v) for n, v in times.items()}
    c = {n: statistics.median(v) for n, v in cpus.items()}
    m = {n: statistics.median(v) for n, v in rss.items()}
    out = [f"| object store: {rows:,} rows NDJSON, page {page}, concurrency {k} | time "
           "| CPU (user + sys) | peak RSS |", "|---|---|---|---|"]
    out.append(f"| `-o FILE` | {t['file']:.2f} s | {c['file']:.2f} s | {m['file'] / 1024:.1f} MiB |")
    out.append(f"| `-o s3://` (moto on this machine) | {t['s3']:.2f} s | {c['s3']:.2f} s "
               f"| {m['s3'] / 1024:.1f} MiB |")
    out.append(f"| ratio s3 / file | **{t['s3'] / t['file']:.2f}×** | | |")
    out.append("")
    with Emulator(big) as emu, S3() as s3:
        peak = []
        for _ in range(max(1, min(runs, 3))):
            _, _, kib = timed([BIN, "-q", "export", *common, "--restart", "-o",
                               "s3://bench/big.ndjson"], s3.env(emu))
            peak.append(kib)
    p = statistics.median(peak) / 1024
    out += ["| object store: peak RSS of the exporter to `s3://` | rows | peak RSS | target |",
            "|---|---|---|---|",
            f"| NDJSON | {big:,} | **{p:.1f} MiB** | ≤ 100 MiB: {'met' if p <= 100 else 'MISSED'} |", ""]
    return out


def faults(page, k, runs):
    """30% of requests fail (500, reset, truncated body; no Retry-After), 20 ms per page."""
    out = []
    pages = 1000
    rows = pages * page - 1
    # 12 retries a page rather than 8: at 30% failures, 9 failures in a row (0.3^9 per page)
    # would otherwise end about one run in six over 1,000 pages x 10 runs; the backoff itself
    # is the default.
    common = ["--page-size", str(page), "--concurrency", str(k), "--max-retries", "12"]
    with Emulator(rows, latency_ms=20) as emu:
        clean, _ = median(lambda: run_export(emu, *common)[0], runs)
    with Emulator(rows, latency_ms=20, fault_rate=0.3, faults="500,reset,truncate") as emu:
        faulty, _ = median(lambda: run_export(emu, *common)[0], runs)
        fast, _ = median(lambda: run_export(emu, *common, "--retry-base-ms", "10")[0], runs)
    out += [f"| faults: {pages} pages of {page}, 20 ms each, concurrency {k} | time | vs fault-free |",
            "|---|---|---|",
            f"| no faults | {clean:.2f} s | 1.00× |",
            f"| 30% of requests: 500, reset, truncated body (default backoff, 200 ms base; --max-retries 12) | {faulty:.2f} s | **{faulty / clean:.2f}×** |",
            f"| the same, --retry-base-ms 10 | {fast:.2f} s | **{fast / clean:.2f}×** |",
            ""]
    return out

def fetch_page(emu, body):
    """POSTs one list request with curl; returns the response body."""
    body = json.dumps(dict(body, apptoken=emu.token))
    return subprocess.run(["curl", "-s", "--fail", "-H", "content-type: application/json",
                           "--data-binary", body, f"{emu.url}/list/push-devices"],
                          check=True, capture_output=True).stdout


def peak_rss_kib(pid):
    """The peak resident set (VmHWM) of a running process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/PID/status")


def emulator_once(n, page):
    """Starts `xp-export emulate --records n`, fetches the first page (the startup time is
    until it is answered), the last page by offset and a keyset seek into the middle, then
    reads the emulator's peak RSS. Returns (startup seconds, peak RSS in KiB)."""
    start = time.perf_counter()
    with Emulator(n) as emu:
        first = json.loads(fetch_page(emu, {"limit": page}))
        startup = time.perf_counter() - start
        assert len(first["data"]) == min(n, page), "first page"
        last = json.loads(fetch_page(emu, {"limit": page, "offset": max(0, n - page)}))
        if first["data"]:
            middle = (first["data"][0]["action_id"] + last["data"][-1]["action_id"]) // 2
            fetch_page(emu, {"limit": page, "order": ["action_id ASC"],
                             "condition": [["action_id", ">", middle]]})
        return startup, peak_rss_kib(emu.proc.pid)


def emulator_footprint(page, runs, sizes):
    """The emulator's own cost: startup and peak RSS by data set size."""
    out = ["| the emulator: `xp-export emulate --records N` | records | startup to first page | peak RSS |",
           "|---|---|---|---|"]
    for n in sizes:
        results = [emulator_once(n, page) for _ in range(max(1, min(runs, 3)))]
        startup = statistics.median(r[0] for r in results)
        rss = statistics.median(r[1] for r in results)
        out.append(f"| first page, last page, keyset seek | {n:,} | {startup:.2f} s | {rss / 1024:.1f} MiB |")
    out.append("")
    return out


def dlt_python():
    """The Python of target/bench-venv-dlt with benches/dlt/requirements.txt installed: made
    once, reused while the requirements are unchanged. Returns (path, None), or (None, why)
    when it cannot be made."""
    requirements = os.path.join(DLT_DIR, "requirements.txt")
    python = os.path.join(DLT_VENV, "bin", "python")
    marker = os.path.join(DLT_VENV, "requirements.installed")
    with open(requirements) as f:
        wanted = f.read()
    try:
        with open(marker) as f:
            if f.read() == wanted and os.path.exists(python):
                return python, None
    except OSError:
        pass
    steps = [("python3 -m venv", [sys.executable, "-m", "venv", DLT_VENV]),
             ("pip install", [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                              "--retries", "1", "--timeout", "15", "-r", requirements])]
    for label, step in steps:
        print(f"dlt: {' '.join(os.path.relpath(a, ROOT) if a.startswith(ROOT) else a for a in step)}",
              file=sys.stderr)
        try:
            done = subprocess.run(step, capture_output=True, text=True)
        except OSError as e:
            return None, f"{label}: {e}"
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return None, f"{label} failed: {lines[-1] if lines else f'exit {done.returncode}'}"
    with open(marker, "w") as f:
        f.write(wanted)
    return python, None


def count_lines(path):
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


def dlt_comparison(page, runs, rows):
    """xp-export `export -o FILE` against the dlt pipeline, the same rows from one emulator,
    the two taking turns run by run; wall time and CPU seconds of each whole process (the
    pipeline checks it loaded exactly `rows` rows; xp-export's file is counted after)."""
    python, why = dlt_python()
    if python is None:
        line = f"dlt comparison skipped: target/bench-venv-dlt could not be made ({why})."
        print(line, file=sys.stderr)
        return [line, ""]
    version = subprocess.run([python, "-c", "import dlt; print(dlt.__version__)"],
                             capture_output=True, text=True, check=True).stdout.strip()
    pipeline = os.path.join(DLT_DIR, "pipeline.py")
    with Emulator(rows) as emu, tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.ndjson")
        env = dict(emu_env(emu), RUNTIME__DLTHUB_TELEMETRY="false", TMPDIR=tmp)

        def xp():
            if os.path.exists(out):
                os.remove(out)
            return run_export_full(emu, "-o", out)

        scenarios = {
            "xp": xp,
            "dlt": lambda: timed([python, pipeline, "--rows", str(rows), "--page-size", str(page)], env),
        }
        samples = {name: [] for name in scenarios}
        for _ in range(runs):
            for name, run in scenarios.items():
                samples[name].append(run())
        written = count_lines(out)
        if written != rows:
            sys.exit(f"xp-export wrote {written} rows, expected {rows}")
    t = {name: statistics.median(v[0] for v in values) for name, values in samples.items()}
    cpu = {name: statistics.median(v[1] for v in values) for name, values in samples.items()}
    ratio = t["dlt"] / t["xp"]
    return [f"| dlt: {rows:,} rows, page {page}, one emulator | time | rows/s | CPU (user + sys) | vs xp-export |",
            "|---|---|---|---|---|",
            f"| xp-export export -o FILE (NDJSON, default flags) | {t['xp']:.2f} s | {rows / t['xp']:,.0f} | {cpu['xp']:.2f} s | 1.00× |",
            f"| dlt {version}: `rest_api` source → `filesystem` destination, JSONL (benches/dlt/pipeline.py) | {t['dlt']:.2f} s | {rows / t['dlt']:,.0f} | {cpu['dlt']:.2f} s | **{ratio:.1f}×** |",
            "",
            "| ratio (wall time, same run) | measured | target |",
            "|---|---|---|",
            f"| dlt / xp-export -o FILE | **{ratio:.1f}×** | ≥ 20× |",
            f"| the same in CPU seconds (user + sys) | {cpu['dlt'] / cpu['xp']:.1f}× | |",
            ""]


if __name__ == "__main__":
    main()
