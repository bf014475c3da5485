"""Prometheus metrics at /metrics: what ops teams scrape to see deliveries, decisions and the outbox.

Under `serve` the requests, the gunicorn workers and the worker process each count their own
part; with PROMETHEUS_MULTIPROC_DIR set (serve sets it, see `share_across_processes`) every
process writes its counters there and /metrics adds them up, so one scrape shows them all.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values
from prometheus_client.core import GaugeMetricFamily

_LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300)
MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"


def share_across_processes(folder: Path) -> None:
    """Make this process and every process it starts count into `folder`, emptied first."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROCESS] = str(folder)
    values.ValueClass = values.get_value_class()    # chosen when prometheus_client was imported


class Metrics:
    def __init__(self, store, clock):
        self.registry = CollectorRegistry()
        shared = bool(os.environ.get(MULTIPROCESS))
        if shared:      # every process's files, added up; the metrics below then belong to no registry
            multiprocess.MultiProcessCollector(self.registry)
        own = None if shared else self.registry
        self.deliveries = Counter("escalator_deliveries_total", "Webhook deliveries by platform and outcome",
                                  ["platform", "status"], registry=own)
        self.decision_lag = Histogram("escalator_decision_lag_seconds",
                                      "From a delivery's receipt to its decision being stored",
                                      registry=own, buckets=_LAG_BUCKETS)
        self.decided = Counter("escalator_decided_total", "Deliveries decided and timer events fired",
                               ["kind"], registry=own)
        self.writebacks = Counter("escalator_writebacks_total", "Write-back attempts by platform and result",
                                  ["platform", "result"], registry=own)
        self.timer_lag = Histogram("escalator_timer_lag_seconds", "How late an SLA timer fired after its due time",
                                   ["event"], registry=own, buckets=_LAG_BUCKETS)
        self.registry.register(_StoreCollector(store, clock))

    def processed(self, done) -> None:
        """Called by the processor after each pass it wrote."""
        for lag in done.lags:
            self.decision_lag.observe(max(lag, 0.0))
        for event, lag in done.timer_lags:
            self.timer_lag.labels(event).observe(max(lag, 0.0))
        self.decided.labels("delivery").inc(done.decided)
        self.decided.labels("ignored").inc(done.ignored)
        self.decided.labels("timer").inc(done.fired)


class _StoreCollector:
    """Backlog and outbox depth, read from the database at scrape time so every process agrees."""

    def __init__(self, store, clock):
        self.store, self.clock = store, clock

    def collect(self):
        backlog, oldest = self.store.backlog(self.clock.now())
        yield GaugeMetricFamily("escalator_backlog", "Deliveries received and not yet decided", value=backlog)
        yield GaugeMetricFamily("escalator_oldest_pending_seconds", "How long the oldest undecided delivery waited",
                                value=oldest)
        gauge = GaugeMetricFamily("escalator_outbox_rows", "Outbox rows by status (pending is the depth)",
                                  labels=["status"])
        with self.store.reading() as tx:
            counts = tx.outbox_counts()
        for status in ("pending", "sending", "sent", "skipped", "dry_run", "dead"):
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge
