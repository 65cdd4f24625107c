"""More than one model behind one server: the page offers each bundled model.

The model ``altsa serve`` was started with answers at ``/`` as always; every other offered
model is a full service of its own (same routes, same page) mounted at ``/models/<name>/``,
built on its first request (so offering a model costs nothing until someone picks it).
``GET /v1/models`` lists them; the page's model menu reads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

MOUNT = "/models"


class ModelEntry(BaseModel):
    name: str
    path: str  # where its page and API live ("/" for the default model)
    default: bool
    loaded: bool


class LazyApp:
    """An ASGI app built by ``factory`` on its first request (in a worker thread: loading a
    model must not stall the event loop); a failed load answers 503 and is retried later."""

    def __init__(self, factory: Callable[[], Any]):
        self.factory = factory
        self.app: Any = None
        self._lock = asyncio.Lock()
        self._lifespan: Any = None  # the built app's lifespan (its session sweeper), entered here

    async def close(self) -> None:
        """End the built app's lifespan (the server's own lifespan calls this on shutdown)."""
        if self._lifespan is not None:
            ctx, self._lifespan = self._lifespan, None
            await ctx.__aexit__(None, None, None)

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] == "lifespan":
            return
        if self.app is None:
            async with self._lock:
                if self.app is None:
                    try:
                        app = await asyncio.to_thread(self.factory)
                        # a mounted app gets no lifespan events of its own: start it here, so its
                        # idle sessions are swept without waiting for a request to that model
                        ctx = app.router.lifespan_context(app)
                        await ctx.__aenter__()
                        self.app, self._lifespan = app, ctx
                    except Exception as err:  # noqa: BLE001 - any load failure becomes one 503 line
                        from fastapi.responses import JSONResponse

                        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
                        body = {"error": {"code": "model_unavailable", "message": first}}
                        await JSONResponse(body, status_code=503)(scope, receive, send)
                        return
        await self.app(scope, receive, send)


def offer_models(app: FastAPI, default: str, others: dict[str, Callable[[], Any]]) -> None:
    """Mount each of ``others`` (name -> app factory) at ``/models/<name>/`` and add ``/v1/models``."""
    lazy = {name: LazyApp(factory) for name, factory in others.items() if name != default}
    app.state.offered = list(lazy.values())  # closed by the server's lifespan
    for name, sub in lazy.items():
        app.mount(f"{MOUNT}/{name}", sub, name=f"model-{name}")

    @app.get("/v1/models", response_model=list[ModelEntry], tags=["service"])
    async def models() -> list[ModelEntry]:
        """The models this server offers: the default at ``/``, others under ``/models/<name>/``."""
        out = [ModelEntry(name=default, path="/", default=True, loaded=True)]
        out += [ModelEntry(name=n, path=f"{MOUNT}/{n}/", default=False, loaded=s.app is not None) for n, s in lazy.items()]
        return out
