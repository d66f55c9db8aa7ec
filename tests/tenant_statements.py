"""Every statement the app sends on a tenant table must name its workspace (DESIGN §4), so that
on Citus, distributed by `workspace_id`, it runs on one shard: a `workspace_id = $n` in its
WHERE (or reached through joins on `workspace_id`), in every scope — row locks, CTEs, subqueries.
Row-level security is the wall behind it, but a policy is no predicate Citus can route by.

`problems_of(sql)` reads a statement with PostgreSQL's own parser (pglast) and says what in it
would fan out or be refused; `watching(SenConnection)` notes, during the suite, each statement
the app sends inside a workspace's transaction; tests/conftest.py's hooks gather the notes from
every xdist worker and fail the run on any (as tests/problem_codes.py does for the spec).
"""

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError

from app.core.models import Base
from app.core.transaction import APP_ROLE
from app.models import load_all_models

load_all_models()
# Tables distributed by workspace_id (every one with the column); `workspaces` is the tenant
# root, a reference table on Citus, read anywhere.
TENANT_TABLES = frozenset(
    table.name for table in Base.metadata.sorted_tables if "workspace_id" in table.c
)
# Volatile functions Citus refuses in an UPDATE or DELETE of a distributed table.
VOLATILE = frozenset({"nextval", "random", "gen_random_uuid", "clock_timestamp", "setval"})

# (problem, statement, where in the app it was sent from)
Problem = tuple[str, str, str]
SEEN: set[Problem] = set()


@dataclass
class _Scope:
    """One query level: its relations by alias, and the equalities its WHERE and ON say."""

    outer: "_Scope | None"
    relations: dict[str, str] = field(default_factory=dict)  # alias -> table
    # Column references `alias.workspace_id` equal to a value ("$") or to another alias's.
    pinned_to_value: set[str] = field(default_factory=set)
    links: list[tuple[str, str]] = field(default_factory=list)

    def pinned(self) -> set[str]:
        """Aliases whose workspace_id is a value, directly or through a chain of joins in this
        scope. Not through a correlated subquery's link to its enclosing query: Citus prunes
        shards by the values each scope names, and such a subquery sends the query to every
        shard (seen on a cluster: a contact's company in the duplicate candidates' SELECT)."""
        done = set(self.pinned_to_value)
        changed = True
        while changed:
            changed = False
            for left, right in self.links:
                if (left in done) != (right in done):
                    done |= {left, right}
                    changed = True
        return done


def _column(node: Any, scope: _Scope) -> str | None:
    """The alias whose `workspace_id` this node is, or None."""
    while isinstance(node, ast.TypeCast):
        node = node.arg
    if not isinstance(node, ast.ColumnRef):
        return None
    names = [f.sval for f in node.fields if isinstance(f, ast.String)]
    if not names or names[-1] != "workspace_id":
        return None
    if len(names) >= 2:
        return names[-2]
    tenants = [alias for alias, table in scope.relations.items() if table in TENANT_TABLES]
    return tenants[0] if len(tenants) == 1 else None


def _is_value(node: Any) -> bool:
    while isinstance(node, ast.TypeCast):
        node = node.arg
    return isinstance(node, ast.ParamRef | ast.A_Const)


def _conjuncts(node: Any) -> Iterator[Any]:
    if isinstance(node, ast.BoolExpr) and node.boolop == enums.BoolExprType.AND_EXPR:
        for arg in node.args:
            yield from _conjuncts(arg)
    elif node is not None:
        yield node


def _note_equalities(condition: Any, scope: _Scope) -> None:
    for node in _conjuncts(condition):
        if not (isinstance(node, ast.A_Expr) and node.kind == enums.A_Expr_Kind.AEXPR_OP):
            continue
        if [n.sval for n in node.name] != ["="]:
            continue
        left, right = _column(node.lexpr, scope), _column(node.rexpr, scope)
        if left and right:
            scope.links.append((left, right))
        elif left and _is_value(node.rexpr):
            scope.pinned_to_value.add(left)
        elif right and _is_value(node.lexpr):
            scope.pinned_to_value.add(right)


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []
        self.ctes: set[str] = set()

    def statement(self, node: Any, outer: _Scope | None = None) -> None:
        if isinstance(node, ast.SelectStmt):
            self._select(node, outer)
        elif isinstance(node, ast.UpdateStmt | ast.DeleteStmt):
            self._write(node, outer)
        elif isinstance(node, ast.InsertStmt):
            self._with(node.withClause, outer)
            if node.selectStmt is not None and not _values_only(node.selectStmt):
                if node.relation.relname in TENANT_TABLES:
                    self.problems.append(
                        f"INSERT … SELECT into {node.relation.relname} (Citus refuses it "
                        "under row-level security): insert the values"
                    )
                self.statement(node.selectStmt, outer)

    def _with(self, clause: Any, outer: _Scope | None) -> None:
        for cte in (clause.ctes if clause else None) or ():
            self.ctes.add(cte.ctename)
            self.statement(cte.ctequery, outer)

    def _select(self, node: ast.SelectStmt, outer: _Scope | None) -> None:
        self._with(node.withClause, outer)
        if node.op != enums.SetOperation.SETOP_NONE:
            self.statement(node.larg, outer)
            self.statement(node.rarg, outer)
            return
        scope = _Scope(outer)
        for item in node.fromClause or ():
            self._from(item, scope)
        _note_equalities(node.whereClause, scope)
        self._check(scope, "locked or read" if node.lockingClause else "read")
        self._sublinks((node.targetList, node.whereClause, node.havingClause), scope)

    def _write(self, node: ast.UpdateStmt | ast.DeleteStmt, outer: _Scope | None) -> None:
        self._with(node.withClause, outer)
        scope = _Scope(outer)
        self._from(node.relation, scope)
        extra = node.fromClause if isinstance(node, ast.UpdateStmt) else node.usingClause
        for item in extra or ():
            self._from(item, scope)
        _note_equalities(node.whereClause, scope)
        self._check(scope, "changed")
        if node.relation.relname in TENANT_TABLES:
            called = _functions(node)
            for name in sorted(called & VOLATILE):
                self.problems.append(
                    f"{name}() in a change of {node.relation.relname} (Citus refuses volatile"
                    " functions there): compute the value first"
                )
        targets = node.targetList if isinstance(node, ast.UpdateStmt) else None
        self._sublinks((targets, node.whereClause), scope)

    def _from(self, item: Any, scope: _Scope) -> None:
        if isinstance(item, ast.RangeVar):
            alias = item.alias.aliasname if item.alias else item.relname
            if item.relname not in self.ctes:
                scope.relations[alias] = item.relname
        elif isinstance(item, ast.JoinExpr):
            self._from(item.larg, scope)
            self._from(item.rarg, scope)
            _note_equalities(item.quals, scope)
            self._sublinks((item.quals,), scope)
        elif isinstance(item, ast.RangeSubselect):
            self.statement(item.subquery, scope if item.lateral else scope.outer)

    def _sublinks(self, parts: tuple[Any, ...], scope: _Scope) -> None:
        for part in parts:
            for sub in _nodes(part, ast.SubLink):
                self.statement(sub.subselect, scope)

    def _check(self, scope: _Scope, verb: str) -> None:
        pinned = scope.pinned()
        for alias, table in scope.relations.items():
            if table in TENANT_TABLES and alias not in pinned:
                self.problems.append(
                    f"{table} {verb} without `workspace_id = …` (every shard on Citus)"
                )


def _values_only(select: Any) -> bool:
    return isinstance(select, ast.SelectStmt) and select.valuesLists is not None


def _nodes(root: Any, kind: type) -> Iterator[Any]:
    """Every node of `kind` under root, not descending into nested ones of the same kind."""
    if root is None:
        return
    if isinstance(root, kind):
        yield root
        return
    if isinstance(root, tuple | list):
        for item in root:
            yield from _nodes(item, kind)
    elif isinstance(root, ast.Node):
        for name in root:
            yield from _nodes(getattr(root, name), kind)


def _functions(root: Any) -> set[str]:
    found = set()
    for call in _all(root, ast.FuncCall):
        found.add(call.funcname[-1].sval)
    return found


def _sets_for_the_transaction(root: Any) -> bool:
    """A set_config() that isn't plainly session-wide (`false`): asyncpg's own type
    introspection turns JIT off for the coordinator's session, which no shard needs."""
    for call in _all(root, ast.FuncCall):
        if call.funcname[-1].sval == "set_config" and len(call.args or ()) == 3:
            scope = call.args[2]
            if not (
                isinstance(scope, ast.A_Const) and getattr(scope.val, "boolval", None) is False
            ):
                return True
    return False


def _all(root: Any, kind: type) -> Iterator[Any]:
    if isinstance(root, tuple | list):
        for item in root:
            yield from _all(item, kind)
    elif isinstance(root, ast.Node):
        if isinstance(root, kind):
            yield root
        for name in root:
            yield from _all(getattr(root, name), kind)


@cache
def problems_of(sql: str) -> tuple[str, ...]:
    """What in `sql` would fan out to every shard, be refused, or not reach the shards at all
    (a setting made with set_config(), which Citus never forwards: SET LOCAL it is)."""
    unforwarded = "set_config" in sql
    if not unforwarded and not any(table in sql for table in TENANT_TABLES):
        return ()
    try:
        statements = parse_sql(sql)
    except ParseError:
        return ()
    reader = _Reader()
    for raw in statements:
        reader.statement(raw.stmt)
        if unforwarded and _sets_for_the_transaction(raw.stmt):
            reader.problems.append(
                "set_config() of a setting (Citus never forwards it to the shards): SET LOCAL"
            )
    return tuple(dict.fromkeys(reader.problems))


def _sender() -> str | None:
    """Where in the app the statement was sent from: the first frame outside the core, and
    the core's helper it went through, if any; None when a test sent it itself."""
    frame = sys._getframe(2)
    plumbing = ("/app/core/sql.py", "/app/core/driver.py", "/app/core/db.py")
    helper = None
    while frame is not None:
        name = frame.f_code.co_filename
        if "/tests/" in name:
            return None
        if "/app/" in name and not name.endswith(plumbing):
            place = f"{name.rsplit('/app/', 1)[1]}:{frame.f_lineno} ({frame.f_code.co_name})"
            if "/app/core/" not in name:
                return f"{place} via {helper}" if helper else place
            helper = helper or place
        frame = frame.f_back
    return helper


def note(role: str | None, sql: str) -> None:
    """A statement about to be sent by a connection in `role`: note its problems, if the app
    (not a test) sent it inside a workspace's transaction."""
    if role != APP_ROLE:
        return  # a system session's fan-out or a credential look-up: not per workspace
    problems = problems_of(sql)
    if not problems:
        return
    sender = _sender()
    if sender is not None:
        SEEN.update((problem, " ".join(sql.split())[:300], sender) for problem in problems)


def as_lists(seen: set[Problem]) -> list[list[str]]:
    return [list(item) for item in sorted(seen)]
