"""Finishing touches on the generated spec, so clients generated from it are clean:
validation errors are problem+json, and every operation carries request/response examples."""

import re
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from app.core.errors import (
    EXAMPLES_REF,
    FAULTS,
    NotFound,
    Problem,
    Unprocessable,
    add_problems,
    documented,
    documented_codes,
    error_classes,
    problem_example,
)
from app.core.heavy import WorkspaceBusy
from app.core.idempotency import IdempotencyKeyInvalid, IdempotencyKeyReused
from app.core.schemas import InputModel, ReadModel

_UNAVAILABLE_REF = {"$ref": "#/components/responses/ServiceUnavailable"}
_PRIMITIVES = {"string": "string", "integer": 0, "number": 0, "boolean": True}
_FORMATS = {
    "uuid": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
    "date-time": "2026-11-23T04:00:00Z",
    "date": "2026-11-23",
}


_LITERAL_PATTERN = re.compile(r"^\^(\w+)\$$")


def _example(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    if depth > 6:
        return None
    if "const" in schema:
        return schema["const"]
    if literal := _LITERAL_PATTERN.match(schema.get("pattern", "")):
        return literal.group(1)
    if "$ref" in schema:
        return _example(components[schema["$ref"].rsplit("/", 1)[-1]], components, depth + 1)
    if schema.get("examples"):
        return schema["examples"][0]
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        return _example(options[0], components, depth + 1) if options else None
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: _example(prop, components, depth + 1) for name, prop in props.items()}
    if kind == "array":
        return [_example(schema.get("items", {}), components, depth + 1)]
    if "format" in schema and schema["format"] in _FORMATS:
        return _FORMATS[schema["format"]]
    return _PRIMITIVES.get(kind) if isinstance(kind, str) else None


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its definitions inlined, for the body of a route that reads
    it raw (a webhook checks its signature over the bytes before parsing them)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolved(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return resolved(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolved(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolved(value) for value in node]
        return node

    inlined: dict[str, Any] = resolved(schema)
    return inlined


def _add_example(media: dict[str, Any], components: dict[str, Any]) -> None:
    if "schema" in media and "example" not in media and "examples" not in media:
        media["example"] = _example(media["schema"], components)


def _models_with_examples() -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = [InputModel, ReadModel]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if getattr(cls, "example", None) is not None:
            found.append(cls)
    return found


def _restore_model_examples(components: dict[str, Any]) -> None:
    """FastAPI writes the spec without None values, which strips `null` out of our examples
    (a required nullable field then looks missing); put each model's example back whole."""
    for cls in _models_with_examples():
        if cls.__name__ in components:
            components[cls.__name__]["examples"] = [cls.example]  # type: ignore[attr-defined]


def _name_enum_values(components: dict[str, Any], spec: dict[str, Any]) -> None:
    """`sort` choices like `-created_at` get readable names in generated clients."""

    def visit(schema: Any) -> None:
        if isinstance(schema, dict):
            values = schema.get("enum")
            if (
                values
                and all(isinstance(v, str) for v in values)
                and any(v.startswith("-") for v in values)
            ):
                schema["x-enum-varnames"] = [
                    (v[1:] + "_desc" if v.startswith("-") else v).upper() for v in values
                ]
            for value in schema.values():
                visit(value)
        elif isinstance(schema, list):
            for value in schema:
                visit(value)

    visit(components)
    visit(spec.get("paths", {}))


_HEADERS = {
    "ETag": {
        "description": 'The record\'s version (`"3"`): send it back as `If-Match`.',
        "schema": {"type": "string"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response of an earlier request with "
        "the same Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}


def _document_headers(method: str, path: str, operation: dict[str, Any]) -> None:
    params = {p.get("name") for p in operation.get("parameters", [])}
    single_record = path.endswith("}") or path.endswith("/restore")
    for status, response in operation.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        headers = response.setdefault("headers", {})
        if "Idempotency-Key" in params:
            headers["Idempotent-Replayed"] = _HEADERS["Idempotent-Replayed"]
        if single_record and method in ("get", "patch", "post") and "content" in response:
            headers["ETag"] = _HEADERS["ETag"]
        if not headers:
            del response["headers"]


def _document_idempotency_errors(operation: dict[str, Any]) -> None:
    """What `Idempotency-Key` adds to any POST that takes it: an empty key is a 400, the key
    sent again with another request a 409, and a replay whose record was since deleted or
    moved out of the caller's sight a 404 (`not_found`)."""
    if "Idempotency-Key" not in {p.get("name") for p in operation.get("parameters", [])}:
        return
    add_problems(
        operation.setdefault("responses", {}), IdempotencyKeyInvalid, IdempotencyKeyReused, NotFound
    )


def _document_faults(path: str, operation: dict[str, Any]) -> None:
    """What any API operation may answer whatever its own errors: 503 when the database or
    Redis fails it (the shared `ServiceUnavailable` response, unless the route has 503s of its
    own); and, for a text search (`q`), 429 when the workspace has too many running
    (`workspace_busy`). Both with `Retry-After`."""
    if not path.startswith("/api/"):
        return
    responses = operation.setdefault("responses", {})
    if "503" in responses:
        add_problems(responses, *FAULTS)
        responses["503"]["headers"] = {"Retry-After": _RETRY_AFTER}
    else:
        responses["503"] = dict(_UNAVAILABLE_REF)
    if "q" in {p.get("name") for p in operation.get("parameters", [])}:
        add_problems(responses, WorkspaceBusy)
    if "429" in responses:
        responses["429"].setdefault("headers", {"Retry-After": _RETRY_AFTER})


def _document_validation(operation: dict[str, Any]) -> None:
    """FastAPI's own 422 (its HTTPValidationError) is our problem with `validation_error`."""
    responses = operation.get("responses", {})
    if "422" in responses:
        if not documented_codes(responses["422"]):
            del responses["422"]
        add_problems(responses, Unprocessable)


_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "schema": {"type": "integer"},
}


def _referenced_examples(spec: Any) -> set[str]:
    if isinstance(spec, dict):
        ref = spec.get("$ref", "")
        found = {ref.removeprefix(EXAMPLES_REF)} if ref.startswith(EXAMPLES_REF) else set()
        for value in spec.values():
            found |= _referenced_examples(value)
        return found
    if isinstance(spec, list):
        return set().union(*(_referenced_examples(value) for value in spec))
    return set()


def _shared_problems(spec: dict[str, Any]) -> None:
    """The shared 503, and one example per code any response lists: each response points at
    them instead of repeating them."""
    unavailable = documented(503, list(FAULTS))
    unavailable["headers"] = {"Retry-After": _RETRY_AFTER}
    spec["components"]["responses"] = {"ServiceUnavailable": unavailable}
    known = error_classes()
    codes = sorted(_referenced_examples(spec))
    spec["components"]["examples"] = {code: problem_example(known[code]) for code in codes}


def finish_spec(spec: dict[str, Any]) -> dict[str, Any]:
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    _restore_model_examples(components)
    _name_enum_values(components, spec)
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(components["Problem"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, path_item in spec.get("paths", {}).items():
        for method, operation in path_item.items():
            operation.setdefault("security", [])  # public operations say so explicitly
            _document_validation(operation)
            _document_idempotency_errors(operation)
            _document_faults(path, operation)
            _document_headers(method, path, operation)
            responses = operation.get("responses", {})
            ordered = sorted(responses.items())
            responses.clear()
            responses.update(ordered)
            for response in responses.values():
                for media in response.get("content", {}).values():
                    _add_example(media, components)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _add_example(media, components)
    _shared_problems(spec)
    return spec


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                license_info=app.license_info,
                servers=app.servers,
            )
            spec["servers"] = [{"url": "/", "description": "This server"}]
            app.openapi_schema = finish_spec(spec)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
