"""The baseline for bench/ingest.py: a Flask endpoint that only parses the JSON body, under gunicorn.

`POST /webhooks/jira` does `json.loads(request.get_data())` and answers 202 `{"status": "accepted"}`;
`GET /healthz` answers 200. It runs through `plugin.server.Server` (the class `escalator serve` uses)
with the options `escalator serve` passes (see `serve_options`; bench/ingest.py checks them against
plugin/cli.py), so the two servers differ only in what the view does.

    .venv/bin/python bench/bare_app.py --port 8099 [--workers 1] [--threads 4]
"""
from __future__ import annotations

import argparse
import json

from flask import Flask, jsonify, request

from plugin.server import Server


def create_bare_app() -> Flask:
    app = Flask(__name__)

    @app.post("/webhooks/jira")
    def receive():
        json.loads(request.get_data())
        return jsonify({"status": "accepted"}), 202

    @app.get("/healthz")
    def health():
        return jsonify({"status": "ok"})

    return app


def serve_options(host: str, port: int, workers: int, threads: int) -> dict:
    """The gunicorn options of `escalator serve` (plugin/cli.py), for any host, port, workers and threads."""
    return {"bind": f"{host}:{port}", "workers": workers, "threads": threads, "worker_class": "gthread",
            "accesslog": "-", "timeout": 30, "graceful_timeout": 10}


class BareServer(Server):
    def load(self):
        return create_bare_app()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    BareServer(serve_options(args.host, args.port, args.workers, args.threads), start_worker=False).run()


if __name__ == "__main__":
    main()
