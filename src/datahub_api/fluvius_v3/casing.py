"""Case-insensitive ``/v3`` paths and query parameter names.

Fluvius runs on ASP.NET, whose routing and query binding ignore case, and ESP backends rely
on it: ``/v3/api/Mandate``, ``/V3/API/mandate/Energy``, ``PeriodType=readTime``. Before
routing, this middleware rewrites the path to the spelling of the registered ``/v3`` route
it matches, and each query parameter name to the name that route declares. The table is
read from the app's own routes (FastAPI's declared query parameters), so a new route or
parameter needs no change here.

It also lets ``text/json`` bodies through as JSON: the spec accepts ``application/json``,
``text/json`` and ``application/*+json``, and FastAPI only parses the first and last.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote, unquote_plus

from fastapi import routing as fastapi_routing
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

V3_PREFIX = "/v3"

# Old names real clients still send for a parameter, lower-cased -> the spec's name.
# ``EanNumber`` is what the Fluvius ESP API v2 called ``ean``; open-source ESP clients built
# on v2 (e.g. github.com/VONKT/fluvius-energy-service-company) send it. Applied only where the
# route declares the target name.
# ``DataServiceType`` (one value, v2's name) on the mandate list is its ``dataServiceTypes``.
QUERY_NAME_ALIASES: Mapping[str, str] = {"eannumber": "ean", "dataservicetype": "dataServiceTypes"}


@dataclass(frozen=True)
class CanonicalRoute:
    """One ``/v3`` route: its path segments (None where a path parameter goes) and the
    query parameter names it declares, by lower-cased name."""

    segments: tuple[str | None, ...]
    query_names: Mapping[str, str]

    def matches(self, segments: Sequence[str]) -> bool:
        return len(segments) == len(self.segments) and all(
            expected is None or expected.lower() == given.lower()
            for expected, given in zip(self.segments, segments, strict=True)
        )

    def spell(self, segments: Sequence[str]) -> str:
        return "/".join(
            given if expected is None else expected
            for expected, given in zip(self.segments, segments, strict=True)
        )


def _segments_of_template(template: str) -> tuple[str | None, ...]:
    return tuple(
        None if part.startswith("{") and part.endswith("}") else part
        for part in template.split("/")
    )


def _query_names_of(dependant: Dependant, seen: set[int]) -> Iterable[str]:
    if id(dependant) in seen:
        return
    seen.add(id(dependant))
    for param in dependant.query_params:
        model = param.field_info.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):  # a query model
            yield from (field.alias or name for name, field in model.model_fields.items())
        else:
            yield param.alias
    for sub_dependant in dependant.dependencies:
        yield from _query_names_of(sub_dependant, seen)


def _declared_query_names(route: object) -> list[str]:
    """The query parameter names a route declares, its dependencies' included."""
    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant):
        return []
    return list(_query_names_of(dependant, set()))


def _http_routes(routes: Sequence[BaseRoute]) -> Iterable[object]:
    """Every route with its full path. FastAPI >= 0.165 keeps included routers as
    ``_IncludedRouter`` entries, resolved through ``iter_route_contexts``; older versions
    flatten them into ``app.routes``."""
    iterate = getattr(fastapi_routing, "iter_route_contexts", None)
    if iterate is None:
        return routes
    return cast(Iterable[object], iterate(routes))


class V3RouteTable:
    """The canonical spelling of every ``/v3`` route, and of its query parameter names."""

    def __init__(
        self,
        routes: Iterable[CanonicalRoute],
        query_name_aliases: Mapping[str, str] = QUERY_NAME_ALIASES,
    ) -> None:
        # The most literal template first: /mandate/energy wins over /mandate/{id}.
        self.routes = sorted(routes, key=lambda route: route.segments.count(None))
        self.query_name_aliases = query_name_aliases

    @classmethod
    def from_routes(cls, routes: Sequence[BaseRoute]) -> V3RouteTable:
        names_by_template: dict[str, dict[str, str]] = {}
        for route in _http_routes(routes):
            template = getattr(route, "path", None)
            if not isinstance(template, str) or not template.lower().startswith(V3_PREFIX + "/"):
                continue
            names = names_by_template.setdefault(template, {})
            for name in _declared_query_names(route):
                names.setdefault(name.lower(), name)
        return cls(
            CanonicalRoute(_segments_of_template(template), names)
            for template, names in names_by_template.items()
        )

    def match(self, path: str) -> tuple[str, CanonicalRoute] | None:
        """The canonical spelling of ``path`` and its route, or None if no route matches."""
        segments = path.split("/")
        for route in self.routes:
            if route.matches(segments):
                return route.spell(segments), route
        return None

    def canonical_query_name(self, route: CanonicalRoute, name: str) -> str:
        lowered = name.lower()
        if lowered in route.query_names:
            return route.query_names[lowered]
        alias = self.query_name_aliases.get(lowered)
        if alias is not None and alias.lower() in route.query_names:
            return route.query_names[alias.lower()]
        return name

    def canonical_query_string(self, route: CanonicalRoute, query_string: bytes) -> bytes:
        """Rename the parameters; values stay byte for byte as sent."""
        if not query_string:
            return query_string
        pairs = []
        for pair in query_string.split(b"&"):
            raw_name, separator, value = pair.partition(b"=")
            name = unquote_plus(raw_name.decode("latin-1"))
            canonical = self.canonical_query_name(route, name)
            if canonical != name:
                raw_name = quote(canonical, safe="").encode("ascii")
            pairs.append(raw_name + separator + value)
        return b"&".join(pairs)


_JSON_ALIASES = {b"text/json": b"application/json"}


def _with_json_content_type(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    rewritten = []
    for name, value in headers:
        if name == b"content-type":
            media_type, separator, parameters = value.partition(b";")
            replacement = _JSON_ALIASES.get(media_type.strip().lower())
            if replacement is not None:
                value = replacement + separator + parameters
        rewritten.append((name, value))
    return rewritten


class CaseInsensitiveV3Middleware:
    """Pure ASGI: canonical ``/v3`` path and query names before the router sees them.

    ``routes`` is read lazily (routes may be included after the middleware is added), and
    again whenever a ``/v3`` path matches no route in the table. The scope is updated in
    place, as Starlette's router does, so outer middleware see the matched route.
    """

    def __init__(self, app: ASGIApp, *, routes: Callable[[], Sequence[BaseRoute]]) -> None:
        self.app = app
        self.routes = routes
        self._table: V3RouteTable | None = None

    def _match(self, path: str) -> tuple[str, CanonicalRoute] | None:
        if self._table is not None:
            matched = self._table.match(path)
            if matched is not None:
                return matched
        # First request, or a route included since the table was built: read them again.
        self._table = V3RouteTable.from_routes(self.routes())
        return self._table.match(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].lower().startswith(V3_PREFIX + "/"):
            self._canonicalise(scope)
        await self.app(scope, receive, send)

    def _canonicalise(self, scope: Scope) -> None:
        path: str = scope["path"]
        # ASP.NET ignores a trailing slash; answering it with a redirect would break POSTs.
        matched = self._match(path.rstrip("/"))
        if matched is not None and self._table is not None:
            canonical_path, route = matched
            if canonical_path != path:
                scope["path"] = canonical_path
                scope["raw_path"] = quote(canonical_path).encode("ascii")
            scope["query_string"] = self._table.canonical_query_string(
                route, scope.get("query_string", b"")
            )
        scope["headers"] = _with_json_content_type(list(scope.get("headers", [])))
