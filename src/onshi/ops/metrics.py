"""The process-wide Prometheus metrics (prometheus-client), safe under several uvicorn workers.

prometheus-client chooses how it stores values when it is first imported: with ``PROMETHEUS_MULTIPROC_DIR`` set,
each worker writes its counters and histograms to files in that folder and ``/metrics`` sums them
(:func:`registry_for_scrape`).  ``onshi serve --workers N`` sets the folder before the workers start
(:func:`prepare_multiprocess_dir`); a container sets it in its environment (Dockerfile).

Only what a process really counts is here.  Figures read from the database at scrape time (outbox backlog and
lag, SLA records overdue, the replica's lag, the publisher's leader) are collected by :mod:`onshi.web.ops`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client import multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

#: Verification answers by how the patient was identified (``card`` | ``numbers``) and 資格有効性 (OQSCD006 name).
VERIFICATIONS = Counter("onshi_verifications_total", "Verification answers by method and outcome",
                        ["method", "outcome"])

HTTP_REQUESTS = Counter("onshi_http_requests_total", "HTTP requests by route template, method and status",
                        ["route", "method", "status"])
# Buckets around the verification endpoints' figures (p50 ~1 ms, p99 ≤ 20 ms; docs/performance.md)
HTTP_LATENCY = Histogram("onshi_http_request_duration_seconds", "HTTP request latency by route template",
                         ["route", "method"],
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

#: The verification endpoints' group commit (PostgreSQL; :class:`onshi.verify.hotpath.GroupCommit`), counted per
#: write, not per answer — ``what``: ``writes``, ``rows`` (usage-log rows written), ``signatures`` (Ed25519, one per
#: batch) and ``receipts`` (signed under them).  Rows per write and receipts per signature are what an answer's
#: share of the write and of the signature follow (docs/performance.md, docs/receipts.md "Batch receipts").
#: Labelled, not four plain counters: a metric without labels opens its multiprocess file when it is made, at
#: import — in the supervisor, before :func:`prepare_multiprocess_dir` empties the folder.
GROUP_COMMIT = Counter("onshi_group_commit_total",
                       "Verification group commit: writes, rows written, signatures made, receipts signed", ["what"])

_children: dict = {}


def labelled(metric, *values: str):
    """``metric.labels(*values)``, kept once made: prometheus-client's ``labels`` converts and looks up its values on
    every call (about 4 µs each, three per verification answered).  The label sets are few (route templates, methods,
    statuses, validities), so the dict stays small."""
    key = (metric, values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child


def count_verification(method: str, validity) -> None:
    """Count one verification answer (:mod:`onshi.verify.service`)."""
    labelled(VERIFICATIONS, method, getattr(validity, "name", str(validity)).lower()).inc()


def prepare_multiprocess_dir(workers: int) -> Path | None:
    """Before several workers start: the folder their metrics go to, emptied (files of an earlier run would be
    added in).  Uses ``PROMETHEUS_MULTIPROC_DIR`` when set, else a new temporary folder; one worker needs none."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        if workers <= 1:
            return None
        folder = tempfile.mkdtemp(prefix="onshi-metrics-")
        os.environ[MULTIPROC_ENV] = folder
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for f in path.glob("*.db"):
        f.unlink()
    return path


def registry_for_scrape() -> CollectorRegistry:
    """The registry ``/metrics`` renders: every worker's values summed when ``PROMETHEUS_MULTIPROC_DIR`` is set
    (a new registry per scrape, as prometheus-client prescribes), else this process's own."""
    if os.environ.get(MULTIPROC_ENV):
        reg = CollectorRegistry()
        multiprocess.MultiProcessCollector(reg)
        return reg
    return REGISTRY


def forget_process(pid: int) -> None:
    """A worker process has ended (``onshi serve``'s supervisor): its live gauges go (prometheus-client's
    ``mark_process_dead``); its counters and histograms stay in the folder and are still summed, so totals never
    go back when a worker is replaced."""
    folder = os.environ.get(MULTIPROC_ENV)
    if folder:
        multiprocess.mark_process_dead(pid, folder)


def remove_multiprocess_dir(path: Path | None) -> None:
    if path is not None and path.name.startswith("onshi-metrics-"):
        shutil.rmtree(path, ignore_errors=True)
