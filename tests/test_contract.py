"""The contract frontends generate clients from: committed, complete, and in step with the app."""

import json
import re
from pathlib import Path
from typing import Any

from fastapi.routing import APIRoute

from app.core.errors import (
    BadRequest,
    SenError,
    ServiceUnavailable,
    documented_codes,
    error_classes,
)
from app.core.limits import LimitReached
from app.main import create_app

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def _resolved(response: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A response, or the shared one (`components/responses`) it points at."""
    ref = response.get("$ref", "")
    return spec["components"]["responses"][ref.rsplit("/", 1)[-1]] if ref else response


class TestCommittedSpec:
    def test_committed_spec_is_what_the_app_serves(self) -> None:
        served = json.loads(json.dumps(create_app().openapi()))

        assert json.loads(SPEC.read_text()) == served, "run `sen openapi` and commit the result"

    def test_every_operation_has_id_summary_tag_and_examples(self) -> None:
        spec = json.loads(SPEC.read_text())
        missing = []
        for method, path, operation in _operations(spec):
            for key in ("operationId", "summary", "tags"):
                if not operation.get(key):
                    missing.append(f"{method} {path}: {key}")
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if "example" not in media and "examples" not in media:
                    missing.append(f"{method} {path}: request example")
            for status, response in operation["responses"].items():
                for media in _resolved(response, spec).get("content", {}).values():
                    if "example" not in media and "examples" not in media:
                        missing.append(f"{method} {path} {status}: response example")

        assert missing == []

    def test_operation_ids_are_unique(self) -> None:
        ids = [op["operationId"] for _, _, op in _operations(json.loads(SPEC.read_text()))]

        assert len(ids) == len(set(ids))

    def test_errors_are_documented_as_problem_json_only(self) -> None:
        spec = json.loads(SPEC.read_text())
        wrong = []
        for method, path, operation in _operations(spec):
            for status, response in operation["responses"].items():
                media = set(_resolved(response, spec).get("content", {}))
                if (
                    status.startswith(("4", "5"))
                    and media
                    and media != {"application/problem+json"}
                ):
                    wrong.append(f"{method} {path} {status}")

        assert wrong == []
        assert "HTTPValidationError" not in spec["components"]["schemas"]

    def test_authenticated_operations_document_401(self) -> None:
        spec = json.loads(SPEC.read_text())
        missing = [
            f"{method} {path}"
            for method, path, operation in _operations(spec)
            if operation.get("security") and "401" not in operation["responses"]
        ]

        assert missing == []


# Raised only as one of their subclasses, each with its own code.
_ABSTRACT_ERRORS = {SenError, BadRequest, LimitReached, ServiceUnavailable}


class TestProblemCodes:
    """Clients switch on a problem's `code`: each one an operation can answer is listed under
    its status (`examples`, one per code). What the suite sees answered is checked against the
    spec too (tests/problem_codes.py)."""

    def test_every_error_a_route_declares_is_listed_under_its_status(self) -> None:
        spec = json.loads(SPEC.read_text())
        missing = []
        for route in create_app().routes:
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            for method in sorted(route.methods):
                operation = spec["paths"][route.path_format][method.lower()]
                for status, declared in route.responses.items():
                    response = _resolved(operation["responses"].get(str(status), {}), spec)
                    missing += [
                        f"{method} {route.path_format} {status}: `{code}`"
                        for code in documented_codes(declared)
                        if code not in documented_codes(response)
                    ]

        assert missing == []

    def test_each_listed_code_is_an_error_of_that_status_with_its_example(self) -> None:
        spec = json.loads(SPEC.read_text())
        known = error_classes()
        examples = spec["components"]["examples"]
        responses = [
            (f"{method} {path}", status, _resolved(response, spec))
            for method, path, operation in _operations(spec)
            for status, response in operation["responses"].items()
        ] + [(name, "503", r) for name, r in spec["components"]["responses"].items()]
        wrong = [
            f"{where} {status}: `{code}`"
            for where, status, response in responses
            for code in documented_codes(response)
            if code not in known
            or known[code].status != int(status)
            or examples[code]["value"]["code"] != code
            or examples[code]["value"]["status"] != int(status)
        ]

        assert wrong == []

    def test_every_error_class_is_listed_on_an_operation(self) -> None:
        spec = json.loads(SPEC.read_text())
        create_app()  # every domain's errors are defined
        unlisted = {
            code
            for code, error in error_classes().items()
            if error not in _ABSTRACT_ERRORS and code not in spec["components"]["examples"]
        }

        assert unlisted == set(), "declare them on the routes that raise them"


_UNBOUNDED_REPEAT = re.compile(r"(?<!\\)[*+]|\{\d+,\}")


def _unbounded(schema: dict[str, Any], components: dict[str, Any], at: str) -> list[str]:
    """Where `schema` lets a client send a value of any size: a string with no maxLength (or
    enum, format or anchored pattern of bounded repeats), an array with no maxItems, an object
    of any keys whose description states no byte limit."""
    if "$ref" in schema:
        return _unbounded(components[schema["$ref"].rsplit("/", 1)[-1]], components, at)
    found: list[str] = []
    branches = schema.get("anyOf", [])
    decimal = {b.get("type") for b in branches} >= {"number", "string"}  # max_digits bounds it
    for branch in branches:
        if not (decimal and branch.get("type") == "string"):
            found += _unbounded(branch, components, at)
    kind = schema.get("type")
    if kind == "string":
        pattern = schema.get("pattern", "")
        bounded_pattern = pattern.startswith("^") and not _UNBOUNDED_REPEAT.search(pattern)
        if not (
            "maxLength" in schema
            or "enum" in schema
            or schema.get("format") in ("uuid", "date", "date-time")
            or bounded_pattern
        ):
            found.append(at)
    elif kind == "array":
        if "maxItems" not in schema:
            found.append(f"{at}[]")
        found += _unbounded(schema.get("items", {}), components, f"{at}[]")
    elif kind == "object" or "properties" in schema:
        for name, prop in schema.get("properties", {}).items():
            found += _unbounded(prop, components, f"{at}.{name}")
        if schema.get("additionalProperties") is True and "bytes" not in schema.get(
            "description", ""
        ):
            found.append(f"{at}{{}}")
    return found


class TestInputBounds:
    def test_every_value_a_client_sends_in_a_body_has_a_stated_maximum(self) -> None:
        """What a request stores comes back in every response that reads it: each text,
        list and free-form object must have a bound the spec states."""
        spec = json.loads(SPEC.read_text())
        components = spec["components"]["schemas"]
        unbounded = [
            where
            for method, path, operation in _operations(spec)
            for media in operation.get("requestBody", {}).get("content", {}).values()
            for where in _unbounded(media["schema"], components, f"{method} {path} body")
        ]

        assert unbounded == []
