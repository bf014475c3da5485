"""The background loops of a process: the processor, the outbox worker and the reminders of overdue
review action items, on daemon threads.

`escalator worker` runs them (serve starts one as its child). On SQLite only the process holding
the worker lock in the data directory does, and another takes over within a second if it dies;
several hosts on PostgreSQL each run their own: they claim tickets and outbox rows without waiting for
one another (see `processor` and `outbox`).
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path

from .outbox import OutboxWorker
from .review_reminders import INTERVAL, ReminderSweep

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0


def start(container, stop: threading.Event, *, elect: bool = True, outbox_interval: float = 1.0,
          reminder_interval: float = INTERVAL) -> threading.Thread:
    """Run the processor, the outbox worker and the review reminders until `stop` is set (once this process
    leads, if `elect`); the thread to join on the way out: it ends once the pass and the write-back in
    flight are done."""
    worker = OutboxWorker.from_settings(container.store, container.outbox_clients, container.clock,
                                        container.settings, on_result=_count_writebacks(container.metrics))
    container.processor.outbox_bell = worker.wake
    reminders = ReminderSweep(container.store, lambda: container.matrix().matrix, container.service.notifier,
                              container.clock, wake=worker.wake)

    def run():
        if elect:
            if not _lead(Path(container.settings.data_dir) / "worker.lock", stop):
                return
            worker.take_over()      # the only sender now: whatever is `sending` was a dead worker's
        sender = threading.Thread(target=worker.run_forever, args=(stop, outbox_interval), name="escalator-outbox",
                                  daemon=True)
        sender.start()
        threading.Thread(target=reminders.run_forever, args=(stop, reminder_interval), name="escalator-reminders",
                         daemon=True).start()
        container.processor.run_forever(stop)
        worker.wake.set()   # stopping: the write-back in flight lands before this thread ends, instead of
        sender.join()       # staying `sending` until the stuck-row sweep resends it minutes later

    thread = threading.Thread(target=run, name="escalator-processor", daemon=True)
    thread.start()
    return thread


def _lead(path: Path, stop: threading.Event) -> bool:
    """Wait until this process holds the worker lock; False if stopped first. The lock dies with the process."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    while not stop.is_set():
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            log.info("process %d runs the processor and the outbox worker", os.getpid())
            return True
        except BlockingIOError:
            stop.wait(RETRY_SECONDS)
    os.close(handle)
    return False


def _count_writebacks(metrics):
    if metrics is None:
        return None
    return lambda platform, result: metrics.writebacks.labels(platform, result).inc()
