"""``omnimask serve``: the interactive 4M — an HTTP API (OpenAPI docs at /docs) and a page at /.

Loads the model once (default: the shipped ``synth_small``) and serves ``POST /generate``, ``/edit``,
``/retrieve``, ``GET /scene/{i}``, ``/model`` and ``/health`` (:mod:`omnimask.serve`)::

    pip install 'omnimask[serve]'
    omnimask serve                                  # http://127.0.0.1:8000
    omnimask serve --model runs/x/checkpoint --port 8080 --set max_steps=32 --set max_jobs=4
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    p = subparsers.add_parser("serve", help="serve a model: HTTP API + interactive page", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, metavar="DIR", help="model folder (default: the shipped model)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="matmul precision (default auto: bf16 where this machine is faster at it)")
    p.add_argument("--set", dest="settings", action="append", default=[], metavar="LIMIT=N",
                   help="a limit of omnimask.serve.settings.ServeSettings, e.g. max_upload_bytes=4000000")
    p.set_defaults(func=run)


def parse_settings(items: list[str]):
    """``LIMIT=N`` strings -> :class:`~omnimask.serve.settings.ServeSettings`."""
    import dataclasses

    from omnimask.config import ConfigError
    from omnimask.serve.settings import ServeSettings

    known = {f.name for f in dataclasses.fields(ServeSettings)}
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ConfigError(f"--set {item!r}: write LIMIT=N with LIMIT one of {sorted(known)}")
        try:
            values[key] = int(value)
        except ValueError:
            raise ConfigError(f"--set {item!r}: {key} takes an integer") from None
    return ServeSettings(**values)


def run(args: argparse.Namespace) -> int:
    """Execute ``omnimask serve``; returns the exit code when the server stops."""
    from omnimask.config import ConfigError

    try:
        import uvicorn

        from omnimask.serve.app import create_app
    except ImportError as err:
        raise ConfigError(f"omnimask serve needs FastAPI and uvicorn ({err.name} is missing): "
                          "pip install 'omnimask[serve]'") from None
    import torch

    from omnimask.serve.engine import Engine

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if not 0 < args.port < 65536:
        raise ConfigError(f"--port {args.port}: give a port in 1..65535")
    settings = parse_settings(args.settings)
    engine = Engine.load(args.model, settings, precision=args.precision)
    print(f"omnimask serve: {engine.pipe.path} on http://{args.host}:{args.port} (API docs at /docs)")
    uvicorn.run(create_app(engine), host=args.host, port=args.port, log_level="warning")
    return 0
