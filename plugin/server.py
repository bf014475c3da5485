"""`escalator serve`: the Flask app under gunicorn, one app (and one rule engine Host) per worker process."""
from __future__ import annotations

import ipaddress
import socket

from gunicorn.app.base import BaseApplication


class Server(BaseApplication):
    def __init__(self, options: dict, start_worker: bool, reload: bool = False):
        self.options = options
        self.start_worker = start_worker
        self.watch_rules = reload      # not `reload`: that is BaseApplication.reload(), called on SIGHUP
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        # Built in each worker after fork: durable_rules' Host must not cross a fork. On SIGHUP
        # gunicorn replaces the workers, and each new one loads rules/ (or keeps the last good matrix).
        from .app import create_app
        return create_app(start_worker=self.start_worker, reload=self.watch_rules)


def is_loopback(host: str) -> bool:
    """Whether `host` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False
