"""The contract frontends generate clients from: committed, complete, and in step with the app."""

import json
from pathlib import Path
from typing import Any

from app.main import create_app

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


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
                for media in response.get("content", {}).values():
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
                media = set(response.get("content", {}))
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
