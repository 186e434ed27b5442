"""``/docs``: Swagger UI served by this process, never from a CDN.

A DSO's closed network (and any machine without internet access) must still show the API
docs that ``make run`` points newcomers to. The Swagger UI files come from the
``fastapi-offline`` package, which ships them; the page loads them and a small start script
from our own origin, so it also works under a ``script-src 'self'`` policy (no inline script).
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse, Response

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"

# Starts Swagger UI on the page's own spec; read from the page's data attribute so the
# script needs no values written into it.
START_SCRIPT = """\
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.spec,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
"""


async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    spec = f"{root}{request.app.openapi_url}"
    assets = f"{root}{ASSETS_PATH}"
    title = f"{request.app.title} - API docs"
    return HTMLResponse(
        f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-spec="{spec}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{root}{DOCS_PATH}/start.js"></script>
</body>
</html>
"""
    )


async def start_script(_: Request) -> Response:
    return Response(
        START_SCRIPT,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600"},
    )


def install_api_docs(app: FastAPI) -> None:
    """Serve the docs page, its start script and Swagger UI's own files (create the app
    with ``docs_url=None`` so FastAPI's CDN page is not added)."""
    # Plain routes, as FastAPI's own docs page is: not API operations, not portal pages.
    app.add_route(DOCS_PATH, swagger_ui, include_in_schema=False)
    app.add_route(f"{DOCS_PATH}/start.js", start_script, include_in_schema=False)
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS_DIR), name="api-docs-assets")
