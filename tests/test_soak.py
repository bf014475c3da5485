"""The soak in short: the real `escalator serve` on SQLite under 30 s of open-loop signed Jira and
Zendesk deliveries, writing back to fake platforms. The figures belong to bench/results/soak.md;
here only what must hold at any rate: nothing refused, nothing lost, nothing left undecided,
memory not running away.

50 deliveries/s: the highest rate at which every part, write-backs included, kept up on two cores
shared with other work (bench/results/soak.md). Above it the write-backs fall behind first, and on
SQLite a write-back backlog slows intake: at 100/s on a quiet machine intake held for about 40 s,
so a 30-second test there would pass or fail with the machine's other work, not with the code.
"""
import importlib.util
import json
import sys
import threading
from pathlib import Path

import pytest

from plugin.outbox import PASS_ROWS, OutboxWorker
from plugin.writeback.base import WriteResult

from .test_webhooks import outage_payload

ROOT = Path(__file__).resolve().parent.parent
RATE, SECONDS = 50, 30
RSS_BOUND = 1.5     # last 10 s ÷ first 10 s: generous, as a warming process grows in its first seconds


def _soak():
    """bench/soak.py as a module (bench/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_soak", ROOT / "bench" / "soak.py")
    module = sys.modules["bench_soak"] = importlib.util.module_from_spec(spec)    # its dataclasses look it up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def soaked(tmp_path_factory):
    soak = _soak()
    folder = tmp_path_factory.mktemp("soak")
    options = soak.Options(rate=RATE, duration=SECONDS, sample=5, code="worktree", drain=60, outbox_drain=0)
    result = soak.run(options, folder, soak.Source("worktree", folder))
    soak.report(result, folder / "soak.md", [], "SQLite")
    return soak, result, folder / "soak.md"


def test_every_delivery_is_answered_202(soaked):
    _, result, _ = soaked
    answers = result.answers()
    assert result.total("errors") == 0, result.load.error_samples
    assert sum(answers.values()) == result.load.total == RATE * SECONDS
    assert answers["accepted"] > 0.9 * RATE * SECONDS and answers["duplicate"] and answers["ignored"]   # the mix ran


def test_the_backlog_drains_and_every_stored_delivery_is_decided_once(soaked):
    _, result, _ = soaked
    answers = result.answers()
    assert result.backlog_drained_after is not None
    assert result.statuses["received"] == result.statuses["failed"] == 0
    assert result.statuses["decided"] + result.statuses["ignored"] == answers["accepted"] + answers["ignored"]


def test_decisions_reach_the_fake_platforms(soaked):
    _, result, _ = soaked
    assert result.samples[-1].sent > 0 and result.samples[-1].writes >= result.samples[-1].sent


def test_the_servers_memory_does_not_run_away(soaked):
    soak, result, _ = soaked
    first, last = soak.windows(result)
    assert {"master", "web", "worker"} <= {role for s in first for role, mb in s.rss.items() if mb > 0}
    assert soak.mean([soak.rss_total(s) for s in last]) <= RSS_BOUND * soak.mean([soak.rss_total(s) for s in first])


def test_the_report_has_a_verdict_and_a_row_per_sample(soaked):
    _, result, report = soaked
    text = report.read_text()
    assert "## Verdict" in text and "| errors (non-202 answers, connection errors) | 0 | 0 | met |" in text
    assert text.count("\n| 5 |") == 1 and len(result.samples) >= 6


# -- what the soak found --------------------------------------------------------------------------

class _Sent:
    """A platform that takes every write."""
    def __init__(self):
        self.actions = []

    def apply(self, action):
        self.actions.append(action)
        return WriteResult("sent", None, 200)


class _IdleEndsTheRun(threading.Event):
    """The outbox worker's wake-up: the first time the worker idles, note what it had sent and stop it."""
    def __init__(self, stop: threading.Event, platform: _Sent):
        super().__init__()
        self.stop, self.platform, self.sent_before_idling = stop, platform, None

    def wait(self, timeout=None):
        self.sent_before_idling = len(self.platform.actions)
        self.stop.set()
        return True


def test_a_write_back_backlog_goes_out_without_idling_between_passes(make_app, clock):
    """A pass sends at most PASS_ROWS rows; waiting the interval after a full one capped a backlog's
    drain at 50 rows a second, whatever the platform could take (seen in the soak's drain)."""
    app = make_app(jira_base_url="https://jira.invalid", jira_email="bot@example.com", jira_api_token="tok")
    client = app.test_client()
    for n in range(PASS_ROWS // 2):         # several write-backs each: more than one pass's worth
        client.post("/webhooks/jira", data=json.dumps(outage_payload(f"BACKLOG-{n}")), content_type="application/json")
    container = app.extensions["escalator"]
    container.processor.drain()
    jira, stop = _Sent(), threading.Event()
    worker = OutboxWorker(container.store, {"jira": jira}, clock)
    worker.wake = _IdleEndsTheRun(stop, jira)
    worker.run_forever(stop, interval=3600)
    queued = sum(1 for o in _outbox(container.store) if o == "jira")
    assert queued > PASS_ROWS and worker.wake.sent_before_idling == queued


def _outbox(store) -> list[str]:
    with store.reading() as tx:
        return [platform for platform, in tx.conn.exec_driver_sql("SELECT platform FROM outbox")]
