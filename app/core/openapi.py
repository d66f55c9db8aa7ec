"""Finishing touches on the generated spec, so clients generated from it are clean:
validation errors are problem+json, and every operation carries request/response examples."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.core.errors import PROBLEM_MEDIA_TYPE, Problem

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_PRIMITIVES = {"string": "string", "integer": 0, "number": 0, "boolean": True}
_FORMATS = {
    "uuid": "01936f4e-8a4b-7c3d-9e2f-1a2b3c4d5e6f",
    "date-time": "2026-11-23T04:00:00Z",
    "date": "2026-11-23",
}


def _example(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    if depth > 6:
        return None
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
    return _PRIMITIVES.get(kind)


def _add_example(media: dict[str, Any], components: dict[str, Any]) -> None:
    if "schema" in media and "example" not in media and "examples" not in media:
        media["example"] = _example(media["schema"], components)


def finish_spec(spec: dict[str, Any]) -> dict[str, Any]:
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(components["Problem"].pop("$defs", {}))
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path_item in spec.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = {
                    "description": "Invalid request: `errors` names the fields",
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": _PROBLEM_REF}},
                }
            for response in responses.values():
                for media in response.get("content", {}).values():
                    _add_example(media, components)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _add_example(media, components)
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
                servers=app.servers,
            )
            app.openapi_schema = finish_spec(spec)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
