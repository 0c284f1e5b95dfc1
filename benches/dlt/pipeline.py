#!/usr/bin/env python3
"""Loads every row of `list/push-devices` with dlt, for the dlt comparisons in benches/perf.py
and benches/python.py.

A dlt `rest_api` source pages through the API as it documents itself: `POST
{url}/list/push-devices` with a JSON body holding `apptoken`, `limit` and `offset`, the rows in
the envelope's `data`, and a short page (fewer rows than `limit`) as the only end signal. The
rows go to dlt's `filesystem` destination as uncompressed JSONL in a temporary directory (the
nearest to xp-export's NDJSON file), and the run fails unless exactly --rows rows were loaded.

    XTREMEPUSH_API_URL=http://127.0.0.1:PORT/api/external XTREMEPUSH_APPTOKEN=... \\
        python benches/dlt/pipeline.py --rows 200000

With `--source xp_export`, the rows come from the Python package's dlt resource instead
(`xp_export.dlt.push_actions`: Arrow tables, a page each), into the same destination as
Parquet, dlt's format for Arrow tables.

The apptoken is read from $XTREMEPUSH_APPTOKEN only. dlt's telemetry is off, and its working
directory (pipeline state, load packages) is a temporary directory removed at the end.
"""

import argparse
import glob
import os
import sys
import tempfile

# Before dlt is imported: no telemetry; no compression (xp-export writes plain NDJSON).
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
os.environ.setdefault("DATA_WRITER__DISABLE_COMPRESSION", "true")

import dlt  # noqa: E402
from dlt.sources.helpers.rest_client.paginators import OffsetPaginator  # noqa: E402
from dlt.sources.rest_api import rest_api_source  # noqa: E402

TABLE = "push_devices"


class ShortPagePaginator(OffsetPaginator):
    """Offset and limit in the JSON body; stops after an empty page or a short one, since the
    API sends neither a total nor a has-more flag."""

    def _stop_after_this_page(self, data=None):
        return not data or len(data) < self.limit


def source(url, token, page_size):
    return rest_api_source({
        "client": {"base_url": url.rstrip("/") + "/"},
        "resources": [{
            "name": TABLE,
            "endpoint": {
                "path": "list/push-devices",
                "method": "POST",
                "json": {"apptoken": token},
                "data_selector": "data",
                "paginator": ShortPagePaginator(
                    limit=page_size, offset=0,
                    offset_body_path="offset", limit_body_path="limit",
                    total_path=None, stop_after_empty_page=True),
            },
        }],
    })


def count_lines(paths):
    n = 0
    for path in paths:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                n += chunk.count(b"\n")
    return n


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default=os.environ.get("XTREMEPUSH_API_URL"),
                   help="the API base URL (default $XTREMEPUSH_API_URL)")
    p.add_argument("--rows", type=int, required=True, help="the rows expected; fails otherwise")
    p.add_argument("--page-size", type=int, default=1000, help="rows a request (xp-export's default)")
    p.add_argument("--source", choices=["rest_api", "xp_export"], default="rest_api",
                   help="dlt's rest_api source (default), or the xp_export package's resource")
    p.add_argument("--keep", metavar="DIR",
                   help="load into DIR and keep it (default: a temporary directory, removed)")
    args = p.parse_args()
    token = os.environ.get("XTREMEPUSH_APPTOKEN")
    if not args.url or not token:
        sys.exit("set XTREMEPUSH_API_URL (or --url) and XTREMEPUSH_APPTOKEN")

    with tempfile.TemporaryDirectory(prefix="xp-dlt-") as work:
        out = os.path.abspath(args.keep) if args.keep else os.path.join(work, "out")
        pipeline = dlt.pipeline(
            pipeline_name="xp_push_devices",
            pipelines_dir=os.path.join(work, "pipelines"),
            destination=dlt.destinations.filesystem(bucket_url=out),
            dataset_name="xtremepush",
        )
        if args.source == "xp_export":
            import pyarrow.parquet as pq
            import xp_export
            import xp_export.dlt

            client = xp_export.Client(api_url=args.url, apptoken=token)
            resource = xp_export.dlt.push_actions(client, name=TABLE, page_size=args.page_size)
            info = pipeline.run(resource, loader_file_format="parquet")
            pattern, count = "*.parquet", lambda fs: sum(pq.read_metadata(f).num_rows for f in fs)
        else:
            info = pipeline.run(source(args.url, token, args.page_size), loader_file_format="jsonl")
            pattern, count = "*.jsonl", count_lines
        info.raise_on_failed_jobs()

        normalized = pipeline.last_trace.last_normalize_info.row_counts.get(TABLE, 0)
        files = glob.glob(os.path.join(out, "xtremepush", TABLE, pattern))
        loaded = count(files)
        if normalized != args.rows or loaded != args.rows:
            sys.exit(f"expected {args.rows} rows; dlt normalized {normalized} and "
                     f"wrote {loaded} in {len(files)} files under {out}")
        print(f"{loaded} rows in {len(files)} files (dlt {dlt.__version__})")


if __name__ == "__main__":
    main()
