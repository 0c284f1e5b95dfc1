"""Export each day's push actions with xp-export: one window per data interval.

Each run exports the push actions created in its data interval, [start, end), to one Parquet
object per interval, in a Hive-style layout that DuckDB, Spark and pyarrow read with the date
as a column:

    s3://BUCKET/xtremepush/push_actions/date=2026-11-01/push_actions.parquet

so reruns and backfills (catchup) write each day once and nothing is shared between runs. The
object appears only once complete, and never over one already there. A retry continues from
the checkpoint kept beside the object in the bucket (the resume flag), on whichever worker it
runs, and exits 0 at once when the day's object is already complete. gs:// and az:// work the
same way; so does a local folder (file://…, created beforehand).

The schedule is a timetable with real data intervals (each run's interval is the day before
it), in Airflow 3 as in Airflow 2: Airflow 3's default for a cron `schedule` gives an interval
that starts and ends at the same moment, which is an empty window (exit 2) every day.

Each line the program logs (one JSON object) is logged again at its own `level` (ERROR lines
as errors, WARN as warnings); a line that is not JSON is logged as INFO.

Exit codes and what Airflow does with them:
    0        success
    1        retryable (network down past the program's own retries, an I/O error): the task
             fails with AirflowException and Airflow retries it (`retries` below); the retry
             continues from the checkpoint
    2, 3     permanent (a usage or configuration mistake; the API refused the request or the
             credential): AirflowFailException, which fails the task without retries
    129, 130, 143
             stopped by a signal (SIGHUP, SIGINT, SIGTERM: the task was killed or timed
             out): the checkpoint is saved, so it is retried like 1

Credentials come from the Airflow Connection `xtremepush_default` (login: the OAuth client
ID, password: the client secret; or an `apptoken` key in its extra), or else from the
worker's environment (XTREMEPUSH_CLIENT_ID and XTREMEPUSH_CLIENT_SECRET, or
XTREMEPUSH_APPTOKEN). They reach the program through its environment, never its command line,
which other users of the machine can read. The bucket's credentials are the worker's own, from
the cloud's standard chain (AWS_* variables, an instance profile or IRSA for S3;
GOOGLE_APPLICATION_CREDENTIALS or workload identity for GCS; AZURE_STORAGE_* or a managed
identity for Azure).
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess

import pendulum
from airflow import DAG
from airflow.timetables.interval import CronDataIntervalTimetable

try:  # Airflow 3
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
    )
except ImportError:  # Airflow 2
    from airflow.exceptions import (
        AirflowException,
        AirflowFailException,
        AirflowNotFoundException,
    )
    from airflow.hooks.base import BaseHook
    from airflow.operators.python import PythonOperator

# The binary on the workers, and the dataset the days' objects go into.
XP_EXPORT = os.environ.get("XP_EXPORT_BIN", "xp-export")
DATASET = os.environ.get("XP_EXPORT_DATASET", "s3://my-data-bucket/xtremepush/push_actions")
CONN_ID = "xtremepush_default"

# Exit codes that retrying cannot help: a usage or configuration error, a refusal by the API.
PERMANENT = {2, 3}

# The program's JSON `level` (tracing's names) as a logging level; anything else is INFO.
LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
}

log = logging.getLogger(__name__)


def credential_env() -> dict[str, str]:
    """The worker's environment, with the credential of the Connection if there is one."""
    env = dict(os.environ)
    try:
        conn = BaseHook.get_connection(CONN_ID)
    except AirflowNotFoundException:
        return env  # the worker's own XTREMEPUSH_* variables
    apptoken = conn.extra_dejson.get("apptoken")
    # Exactly one credential: drop the environment's before setting the Connection's.
    for name in ("XTREMEPUSH_APPTOKEN", "XTREMEPUSH_CLIENT_ID", "XTREMEPUSH_CLIENT_SECRET"):
        env.pop(name, None)
    if apptoken:
        env["XTREMEPUSH_APPTOKEN"] = apptoken
    else:
        env["XTREMEPUSH_CLIENT_ID"] = conn.login or ""
        env["XTREMEPUSH_CLIENT_SECRET"] = conn.password or ""
    if conn.host:
        env["XTREMEPUSH_API_URL"] = conn.host
    return env


def export_window(since: str, until: str, output: str) -> dict:
    """Runs one export of [since, until) to `output`; returns its JSON summary line."""
    command = [
        XP_EXPORT,
        "export",
        "push-devices",
        "--since",
        since,
        "--until",
        until,
        "--output",
        output,
        "--resume",
        "--log-format",
        "json",
    ]
    # Quoted as a shell would need it: the rendered times hold a space.
    log.info("running %s", shlex.join(command))
    proc = subprocess.Popen(
        command,
        env=credential_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    summary: dict = {}
    assert proc.stderr is not None
    for line in proc.stderr:
        line = line.rstrip()
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            log.info("%s", line)
            continue
        log.log(LEVELS.get(str(event.get("level", "")).upper(), logging.INFO), "%s", line)
        if event.get("event") == "summary":
            summary = event
    code = proc.wait()
    if code == 0:
        return summary
    reason = summary.get("error") or summary.get("stop_reason") or f"exit code {code}"
    if code in PERMANENT:
        raise AirflowFailException(f"xp-export exited {code} (not retried): {reason}")
    raise AirflowException(f"xp-export exited {code} (retried): {reason}")


with DAG(
    dag_id="xp_export_daily",
    description="Push actions of each day, exported by xp-export",
    # Each run's interval is the day before it, [00:00, 24:00) UTC, under Airflow 2 and 3 alike.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    # Backfill every day since start_date, a few at a time: each is its own window and file.
    catchup=True,
    max_active_runs=4,
    default_args={
        "retries": 4,
        "retry_delay": pendulum.duration(minutes=2),
        "retry_exponential_backoff": True,
        "max_retry_delay": pendulum.duration(minutes=30),
    },
    tags=["xtremepush", "export"],
) as dag:
    PythonOperator(
        task_id="export_push_devices",
        python_callable=export_window,
        # Templated: the data interval (RFC 3339 with its offset, as Airflow renders it) and
        # the object named by its day (the interval's start as `ds` renders it: the run's `ds`
        # in Airflow 2, the interval's own day in Airflow 3 as in 2). Windows that share their
        # ends never share a row, so the daily runs tile time exactly. The window ends at
        # data_interval_end, which has passed when the run starts, so no row can still arrive
        # inside it.
        op_kwargs={
            "since": "{{ data_interval_start }}",
            "until": "{{ data_interval_end }}",
            "output": DATASET + "/date={{ data_interval_start | ds }}/push_actions.parquet",
        },
    )
