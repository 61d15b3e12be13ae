"""The FastAPI app of ``omnimask serve``: the API (OpenAPI docs at ``/docs``) and the page at ``/``.

Errors are JSON ``{"detail": [{"loc": [...field path...], "msg": "..."}]}`` — FastAPI's own shape for
schema violations (422), the same for what :class:`~omnimask.serve.engine.ServeError` refuses (413, 422,
503) — and never a stack trace: anything unexpected is logged and answered 500 with one line. A body over
``max_request_bytes`` is refused (413) before it is read (:class:`BodyLimit`).

Endpoints run in FastAPI's thread pool; the engine queues them onto the model one at a time.
"""

from __future__ import annotations

import logging
import socket
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from omnimask.serve.engine import Engine, ServeError
from omnimask.serve.schemas import EditRequest, GenerateRequest, GenerateResponse, RetrieveRequest, RetrieveResponse

log = logging.getLogger("omnimask.serve")


def _error(status: int, loc: list[Any], message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": [{"loc": loc, "msg": message}]}, status_code=status, headers=headers)


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes is answered 413 without the app reading it —
    at once from its Content-Length, or as soon as a chunked body (no Content-Length) grows past it."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self.limit:
                return await self.refuse(int(length), scope, receive, send)
            return await self.app(scope, receive, send)
        received: list[Message] = []
        size = 0
        while not received or (received[-1]["type"] == "http.request" and received[-1].get("more_body")):
            received.append(await receive())
            size += len(received[-1].get("body", b""))
            if size > self.limit:
                return await self.refuse(size, scope, receive, send, "at least ")
        replay = iter(received)

        async def again() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, again, send)

    async def refuse(self, size: int, scope: Scope, receive: Receive, send: Send, at_least: str = "") -> None:
        message = (f"the request body is {at_least}{size} bytes, over max_request_bytes ({self.limit}); send "
                   "smaller uploads, or start the server with a larger --set max_request_bytes=...")
        await _error(413, ["body"], message)(scope, receive, send)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (for tests and benchmarks that start a server)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def page_asset(name: str) -> str:
    """A file of the page (``omnimask/serve/static``)."""
    return resources.files("omnimask.serve").joinpath("static").joinpath(name).read_text(encoding="utf-8")


def create_app(engine: Engine) -> FastAPI:
    """The app serving ``engine`` (see the module docstring)."""
    app = FastAPI(title="omnimask", version="1", description="4M: any modality from any others — generate, edit, "
                  "retrieve. Conditions and formats: omnimask.serve.schemas.")

    app.add_middleware(BodyLimit, limit=engine.settings.max_request_bytes)

    @app.exception_handler(ServeError)
    async def refused(request: Request, err: ServeError) -> JSONResponse:
        loc = [err.part, *[int(p) if p.isdigit() else p for p in err.field.split(".") if p]]
        headers = {"Retry-After": "1"} if err.status == 503 else None
        return _error(err.status, loc, err.message, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "invalid"), "type": e.get("type", "")}
                  for e in err.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        log.exception("request %s failed", request.url.path)
        return _error(500, ["server"], f"internal error ({type(err).__name__}); the server log has the details")

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": str(engine.pipe.path), "jobs": engine._jobs}

    @app.get("/model")
    def model() -> dict[str, Any]:
        return engine.info()

    @app.get("/scene/{index}")
    def scene(index: int) -> dict[str, Any]:
        return engine.scene(index)

    @app.post("/generate", response_model=GenerateResponse)
    def generate(request: GenerateRequest) -> GenerateResponse:
        return engine.generate(request)

    @app.post("/edit", response_model=GenerateResponse)
    def edit(request: EditRequest) -> GenerateResponse:
        return engine.edit(request)

    @app.post("/retrieve", response_model=RetrieveResponse)
    def retrieve(request: RetrieveRequest) -> RetrieveResponse:
        return engine.retrieve(request)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        return page_asset("index.html")

    @app.get("/app.js")
    def script() -> Response:
        return Response(page_asset("app.js"), media_type="text/javascript")

    return app
