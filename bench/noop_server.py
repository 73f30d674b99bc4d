"""The baseline: the same HTTP stack as ``punching-fist serve`` answering 202 without work."""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def accept(request: Request) -> Response:
    await request.body()
    return JSONResponse({"status": "accepted"}, status_code=202)


async def healthz() -> str:
    return "ok"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = FastAPI()
    app.get("/healthz")(healthz)
    app.router.routes.append(Route("/{path:path}", accept, methods=["POST"]))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        http="httptools",
        loop="uvloop",
    )


if __name__ == "__main__":
    main()
