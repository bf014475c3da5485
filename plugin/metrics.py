"""Prometheus metrics at /metrics: what ops teams scrape to see deliveries, decisions and the outbox."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from .store import Store


class Metrics:
    def __init__(self, store: Store):
        self.registry = CollectorRegistry()
        self.deliveries = Counter("escalator_deliveries_total", "Webhook deliveries by platform and outcome",
                                  ["platform", "status"], registry=self.registry)
        self.decision_seconds = Histogram(
            "escalator_decision_seconds", "Time to evaluate the matrix and store the decision",
            ["platform"], registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        self.writebacks = Counter("escalator_writebacks_total", "Write-back attempts by platform and result",
                                  ["platform", "result"], registry=self.registry)
        self.timer_lag = Histogram("escalator_timer_lag_seconds", "How late an SLA timer fired after its due time",
                                   ["event"], registry=self.registry,
                                   buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300))
        self.registry.register(_OutboxCollector(store))

    def timer_fired(self, event: str, timer: str, lag_seconds: float) -> None:
        self.timer_lag.labels(event).observe(max(lag_seconds, 0.0))


class _OutboxCollector:
    """Outbox rows by status, read from the database at scrape time so every process agrees."""

    def __init__(self, store: Store):
        self.store = store

    def collect(self):
        gauge = GaugeMetricFamily("escalator_outbox_rows", "Outbox rows by status (pending is the depth)",
                                  labels=["status"])
        with self.store.transaction() as tx:
            counts = tx.outbox_counts()
        for status in ("pending", "sending", "sent", "skipped", "dry_run", "dead"):
            gauge.add_metric([status], counts.get(status, 0))
        yield gauge
