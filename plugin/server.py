"""`escalator serve`: the Flask app under gunicorn, one app (and one rule engine Host) per worker
process, and beside them one `escalator worker` (the processor and the outbox) that serve supervises."""
from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import subprocess
import sys
import threading

from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)


class Server(BaseApplication):
    def __init__(self, options: dict, start_worker: bool, reload: bool = False):
        self.options = options
        self.watch_rules = reload      # not `reload`: that is BaseApplication.reload(), called on SIGHUP
        self.worker = WorkerProcess(reload) if start_worker else None
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if self.worker is not None:     # gunicorn's own hooks: after binding, on SIGHUP, on the way out
            self.cfg.set("when_ready", self.worker.start)
            self.cfg.set("on_reload", self.worker.reload)
            self.cfg.set("on_exit", self.worker.stop)

    def load(self):
        # Built in each worker after fork: durable_rules' Host must not cross a fork. On SIGHUP
        # gunicorn replaces the workers, and each new one loads rules/ (or keeps the last good matrix).
        from .app import create_app
        return create_app(reload=self.watch_rules)


class WorkerProcess:
    """`escalator worker` as a child of serve: deciding and sending get a process, and a core, of
    their own instead of sharing a GIL with the requests. Restarted if it dies; SIGHUP reaches it."""

    def __init__(self, reload: bool = False):
        self.command = [sys.executable, "-m", "plugin", "worker", *(["--reload"] if reload else [])]
        self.process: subprocess.Popen | None = None
        self.stopping = threading.Event()

    def start(self, _arbiter=None) -> None:
        self.process = subprocess.Popen(self.command)
        threading.Thread(target=self._supervise, name="escalator-worker-watch", daemon=True).start()

    def _supervise(self) -> None:
        while not self.stopping.wait(1.0):
            # poll() also reports a child gunicorn's arbiter reaped first (as exit status 0).
            if self.process.poll() is not None and not self.stopping.is_set():
                log.error("the worker exited (status %s); starting it again", self.process.returncode)
                self.process = subprocess.Popen(self.command)

    def reload(self, _arbiter=None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGHUP)

    def stop(self, _arbiter=None) -> None:
        self.stopping.set()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()        # it finishes its pass, then exits
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False
