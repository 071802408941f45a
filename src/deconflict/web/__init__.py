"""The live map page: static files served by the service at ``/`` (no CDN, no tile server).

The page's third-party assets (Leaflet, Natural Earth countries from world-atlas) are pinned in
``web-assets/package.json`` and copied into ``static/vendor`` by ``make``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).with_name("static")
VENDOR = STATIC / "vendor"


def mount(app: FastAPI) -> None:
    """Serve the map page at ``/`` and its files under ``/static``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page():  # noqa: ANN202
        if not (VENDOR / "leaflet.js").exists():
            return HTMLResponse("<h1>deconflict</h1><p>The map's assets are not built: run <code>make demo</code> "
                                "or <code>make test</code> once (they copy pinned Leaflet and Natural Earth data "
                                "into src/deconflict/web/static/vendor).</p>", status_code=503)
        return FileResponse(STATIC / "index.html")
