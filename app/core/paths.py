"""Path templates of the contract (`/api/v1/leads/{lead_id}`), matched against request paths.
Used for 405's Allow header and metric labels, independent of how the router nests routes."""

import re

from fastapi import FastAPI

Pattern = tuple[re.Pattern[str], str, frozenset[str]]


def _patterns(app: FastAPI) -> list[Pattern]:
    patterns = getattr(app.state, "path_patterns", None)
    if patterns is None:
        patterns = []
        for template, item in app.openapi().get("paths", {}).items():
            regex = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
            methods = frozenset(m.upper() for m in item)
            patterns.append((re.compile(f"^{regex}$"), template, methods))
        # The most literal template first: `/leads/merge` is not `/leads/{lead_id}`.
        patterns.sort(key=lambda pattern: pattern[1].count("{"))
        app.state.path_patterns = patterns
    return patterns


def template_for(app: FastAPI, path: str) -> str | None:
    cache: dict[str, str | None] | None = getattr(app.state, "template_cache", None)
    if cache is None:
        cache = app.state.template_cache = {}
    if path in cache:
        return cache[path]
    found = next((template for regex, template, _ in _patterns(app) if regex.match(path)), None)
    if len(cache) < 10_000:  # paths carry ids: bounded, not an unbounded memo
        cache[path] = found
    return found


def methods_for(app: FastAPI, path: str) -> list[str]:
    """The methods of the path's template (the most literal one that matches)."""
    for regex, _, route_methods in _patterns(app):
        if regex.match(path):
            return sorted(route_methods)
    return []
