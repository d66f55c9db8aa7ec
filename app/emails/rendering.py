"""Email templates: Jinja2 in its sandbox, checked when saved and rendered for one record.

A template reaches only what `variables` gives it: the record's own fields (a `contact`, or a
`deal` and its `contact`), the record's `owner` (name and email) and `unsubscribe_url`, as
plain values — never an ORM object, so nothing behind a field is reachable. A name or field
outside that list is refused when the template is saved, not when an email goes out.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment

CONTACT_FIELDS = frozenset(
    {
        "full_name", "first_name", "last_name", "email", "phone", "title", "birthday",
        "gender", "province", "tags", "custom_fields",
    }
)  # fmt: skip
DEAL_FIELDS = frozenset(
    {
        "name", "amount", "currency", "probability", "expected_close_date", "status",
        "closed_at", "lost_reason", "tags", "custom_fields",
    }
)  # fmt: skip
OWNER_FIELDS = frozenset({"full_name", "email"})
# Every name a template may use, and the fields of each (None: a plain value).
VARIABLES: dict[str, frozenset[str] | None] = {
    "contact": CONTACT_FIELDS,
    "deal": DEAL_FIELDS,
    "owner": OWNER_FIELDS,
    "unsubscribe_url": None,
}


def vnd(value: Any) -> str:
    """`1500000` → `1.500.000 ₫`: whole đồng, dots between thousands, as Vietnamese write it."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    except ArithmeticError:
        return str(value)
    return f"{amount:,}".replace(",", ".") + " ₫"


def _date_vn(value: Any) -> str:
    """A date as Vietnamese write it: 03/12/2026."""
    if isinstance(value, datetime | date):
        return value.strftime("%d/%m/%Y")
    return "" if value is None else str(value)


def _environment(*, html: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=html, undefined=StrictUndefined)
    env.filters["vnd"] = vnd
    env.filters["date_vn"] = _date_vn
    return env


_HTML = _environment(html=True)
_TEXT = _environment(html=False)


@dataclass(frozen=True)
class TemplateProblem:
    field: str
    message: str


def _fields_used(tree: nodes.Template) -> list[tuple[str, str, int]]:
    """(variable, field, line) of every `variable.field` and `variable["field"]`."""
    used = []
    for node in tree.find_all(nodes.Getattr):
        assert isinstance(node, nodes.Getattr)
        if isinstance(node.node, nodes.Name):
            used.append((node.node.name, node.attr, node.lineno))
    for item in tree.find_all(nodes.Getitem):
        assert isinstance(item, nodes.Getitem)
        key = item.arg
        named = isinstance(item.node, nodes.Name) and isinstance(key, nodes.Const)
        if named and isinstance(key.value, str):  # type: ignore[attr-defined]
            used.append((item.node.name, key.value, item.lineno))  # type: ignore[attr-defined]
    return used


# What Jinja2 itself defines inside loops, blocks and macros.
_JINJA_NAMES = frozenset({"loop", "self", "super", "caller", "varargs", "kwargs"})


def problems_of(field: str, source: str, *, html: bool) -> list[TemplateProblem]:
    """What is wrong with one part of a template: a syntax error or an unknown filter (with
    its line), a variable no template has, a field its variable has not."""
    env = _HTML if html else _TEXT
    try:
        tree = env.parse(source)
        env.from_string(tree)  # compiling finds unknown filters and tests
    except TemplateError as error:
        line = getattr(error, "lineno", None)
        where = f"line {line}: " if line else ""
        return [TemplateProblem(field, f"{where}{error.message or error}")]
    found = []
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    known_names = VARIABLES.keys() | assigned | env.globals.keys() | _JINJA_NAMES
    for node in tree.find_all(nodes.Name):
        if node.ctx == "load" and node.name not in known_names:
            known = ", ".join(sorted(VARIABLES))
            message = f"line {node.lineno}: unknown variable `{node.name}` (known: {known})"
            found.append(TemplateProblem(field, message))
    for variable, name, line in _fields_used(tree):
        fields = VARIABLES.get(variable)
        if fields is not None and name not in fields:
            message = f"line {line}: `{variable}` has no field `{name}`"
            found.append(TemplateProblem(field, message))
    return found


def check_template(parts: Mapping[str, str]) -> list[TemplateProblem]:
    """Problems of a template's `subject`, `body_html` and `body_text` (those given)."""
    found = []
    for field, source in parts.items():
        found += problems_of(field, source, html=field == "body_html")
    return found


class RenderFailed(Exception):
    """A template met a record it cannot render (a `deal` variable in an email about a
    contact, say): `field` names the part, the message what failed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Rendered:
    subject: str
    body_html: str
    body_text: str


def render(subject: str, body_html: str, body_text: str, variables: Mapping[str, Any]) -> Rendered:
    """The three parts for one record; the subject on one line (it becomes a header)."""
    out = {}
    for field, source, env in (
        ("subject", subject, _TEXT),
        ("body_html", body_html, _HTML),
        ("body_text", body_text, _TEXT),
    ):
        try:
            out[field] = env.from_string(source).render(variables)
        except TemplateError as error:
            raise RenderFailed(field, error.message or str(error)) from None
        except (ArithmeticError, TypeError, ValueError) as error:
            raise RenderFailed(field, str(error)) from None
    return Rendered(
        subject=" ".join(out["subject"].split()),
        body_html=out["body_html"],
        body_text=out["body_text"],
    )


def record_variables(
    *,
    contact: Mapping[str, Any] | None,
    deal: Mapping[str, Any] | None,
    owner: Mapping[str, Any] | None,
    unsubscribe_url: str | None,
) -> dict[str, Any]:
    """The names a template sees for one record: each object cut down to its listed fields
    (what is absent — a deal in a contact's email — stays undefined, and renders as an
    error naming it)."""
    variables: dict[str, Any] = {}
    for name, values in (("contact", contact), ("deal", deal), ("owner", owner)):
        if values is not None:
            fields = VARIABLES[name] or frozenset()
            variables[name] = {f: values.get(f) for f in fields}
    if unsubscribe_url is not None:
        variables["unsubscribe_url"] = unsubscribe_url
    return variables
