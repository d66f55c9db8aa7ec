"""Whether a workflow's conditions hold for a record: each `{field, op, value}` against the
record as its API reads it (JSON values), or a record it points at (`account.type`)."""

from decimal import Decimal, InvalidOperation
from typing import Any

from app.automations import targets
from app.automations.schemas import Condition, ConditionChecked, ConditionOp, Conditions
from app.core.context import Ctx
from app.core.search import search_text

Changes = dict[str, dict[str, Any]]


async def checked(
    ctx: Ctx,
    resource: str,
    record: targets.Record,
    conditions: Conditions,
    changes: Changes | None = None,
) -> tuple[bool, list[ConditionChecked]]:
    """Whether they hold (all of `all`, any of `any`, or none given), and each one's result.
    `changes` are the triggering event's, for `changed_to`."""
    results = []
    for condition in conditions.listed:
        actual = await targets.value_of(ctx, resource, record, condition.field)
        results.append(
            ConditionChecked(
                field=condition.field,
                op=condition.op,
                value=condition.value,
                actual=actual,
                holds=_holds(condition, actual, changes or {}),
            )
        )
    if conditions.any is not None:
        return any(r.holds for r in results), results
    return all(r.holds for r in results), results


def _holds(condition: Condition, actual: Any, changes: Changes) -> bool:
    op, value = condition.op, condition.value
    if op is ConditionOp.is_empty:
        return _empty(actual)
    if op is ConditionOp.is_not_empty:
        return not _empty(actual)
    if op is ConditionOp.changed_to:
        change = changes.get(condition.field)
        return change is not None and _equal(change.get("new"), value)
    if op is ConditionOp.eq:
        return _equal(actual, value)
    if op is ConditionOp.ne:
        return not _equal(actual, value)
    if op in (ConditionOp.in_, ConditionOp.not_in):
        found = isinstance(value, list) and any(_equal(actual, v) for v in value)
        return found if op is ConditionOp.in_ else not found
    if op is ConditionOp.contains:
        return _contains(actual, value)
    return _ordered(op, actual, value)


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _equal(actual: Any, value: Any) -> bool:
    """Equal as the values are, as numbers ("2850000000" = 2850000000), or as ids and enums
    (compared as text)."""
    if actual == value:
        return True
    left, right = _number(actual), _number(value)
    if left is not None and right is not None:
        return left == right
    if isinstance(actual, str | int) and isinstance(value, str | int):
        return str(actual) == str(value)
    return False


def _contains(actual: Any, value: Any) -> bool:
    """A list holding the value (tags), or text holding it ignoring case and diacritics."""
    if isinstance(actual, list):
        return any(_equal(item, value) for item in actual)
    if isinstance(actual, str) and isinstance(value, str):
        return search_text(value) in search_text(actual)
    return False


def _ordered(op: ConditionOp, actual: Any, value: Any) -> bool:
    """gt/gte/lt/lte: as numbers when both are, else as text (ISO dates and times order
    right as text); a missing value never compares."""
    if actual is None or value is None:
        return False
    left, right = _number(actual), _number(value)
    pair: tuple[Any, Any] = (
        (left, right) if left is not None and right is not None else (str(actual), str(value))
    )
    a, b = pair
    holds: bool = {
        ConditionOp.gt: a > b,
        ConditionOp.gte: a >= b,
        ConditionOp.lt: a < b,
        ConditionOp.lte: a <= b,
    }[op]
    return holds
