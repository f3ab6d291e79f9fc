"""A FastAPI app behind lambdakit.runtime.web: JSON, path and query parameters, cookies,
server-sent events, a lifespan, and a route that fails."""

import asyncio
import time
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import StreamingResponse

from lambdakit.runtime.web import asgi

STARTUPS: list[float] = []
SHUTDOWNS: list[float] = []
SSE_FINISHED: list[float] = []


@asynccontextmanager
async def lifespan(app):
    STARTUPS.append(time.monotonic())
    print("lifespan startup", flush=True)
    yield {"pool": f"pool-{len(STARTUPS)}"}
    SHUTDOWNS.append(time.monotonic())
    print("lifespan shutdown", flush=True)


app = FastAPI(lifespan=lifespan)


@app.get("/hello")
async def hello():
    return {"message": "hello"}


@app.post("/items/{item_id}")
async def create_item(
    item_id: int, request: Request, tag: Annotated[list[str] | None, Query()] = None
):
    return {
        "item_id": item_id,
        "tags": tag or [],
        "payload": await request.json(),
        "session": request.cookies.get("session"),
        "pool": request.state.pool,
        "url": str(request.url_for("create_item", item_id=item_id)),
    }


@app.get("/search")
async def search(q: str, limit: int = 10):
    return {"q": q, "limit": limit}


@app.get("/login")
async def login(response: Response):
    response.set_cookie("session", "s3cr3t", httponly=True)
    response.set_cookie("theme", "dark")
    return {"ok": True}


@app.get("/events")
async def events():
    async def stream():
        for index in range(3):
            if index:
                await asyncio.sleep(0.05)
            yield f"data: {index}\n\n"
        SSE_FINISHED.append(time.monotonic())

    return StreamingResponse(stream(), media_type="text/event-stream")


@app.get("/boom")
async def boom():
    raise LookupError("the route failed")


handler = asgi(app)
streaming_handler = asgi(app, streaming=True)
