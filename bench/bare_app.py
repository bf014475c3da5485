"""The baseline for bench/ingest.py: a Flask endpoint that only parses the JSON body, under gunicorn.

`POST /webhooks/jira` does `json.loads(request.get_data())` and answers 202 `{"status": "accepted"}`;
`GET /healthz` answers 200. It runs through `plugin.server.Server` (the class `escalator serve` uses)
with the options `escalator serve` passes, read from plugin/cli.py (`serve_options`), so the two servers
differ only in what the view does.

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


# What `escalator serve` passed when this was written; used only if plugin/cli.py cannot be read.
FALLBACK_OPTIONS = {"worker_class": "gthread", "accesslog": "-", "timeout": 30, "graceful_timeout": 10}


def cli_options() -> dict | None:
    """The constant gunicorn options `escalator serve` passes to Server(...), read from the plugin/cli.py
    that is imported here (so from the tree being measured); None if they cannot be found."""
    import ast
    from pathlib import Path

    import plugin

    tree = ast.parse((Path(plugin.__file__).parent / "cli.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Server" and node.args \
                and isinstance(node.args[0], ast.Dict):
            return {k.value: v.value for k, v in zip(node.args[0].keys, node.args[0].values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}
    return None


def serve_options(host: str, port: int, workers: int, threads: int) -> dict:
    """The gunicorn options of `escalator serve` (plugin/cli.py), for any host, port, workers and threads."""
    options = dict(cli_options() or FALLBACK_OPTIONS)
    options.update(bind=f"{host}:{port}", workers=workers, threads=threads)
    return options


class BareServer(Server):
    def load(self):
        return create_bare_app()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--print-options", action="store_true", help="print the gunicorn options as JSON and stop")
    args = parser.parse_args(argv)
    options = serve_options(args.host, args.port, args.workers, args.threads)
    if args.print_options:
        print(json.dumps(options, sort_keys=True))
        return
    BareServer(options, start_worker=False).run()


if __name__ == "__main__":
    main()
