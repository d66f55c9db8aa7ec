"""Dependencies run one way (STYLE §11): domains use the core, never the reverse, and the worker
uses the app, never the reverse. Read from the source's syntax tree, so an import inside a
function or under `TYPE_CHECKING` counts as much as one at the top."""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"

# The command line is the program's entry point, above both the API and the worker: `sen serve`
# and `sen worker` start the worker's supervisor. It is the one module of app/ allowed to.
ENTRY_POINTS = {APP / "cli.py"}


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path | None = None) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) for every import statement in the file."""
    package = _module_name(path, root or ROOT)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module == "app":  # `from app import leads` imports the package app.leads
                for alias in node.names:
                    yield node.lineno, f"app.{alias.name}"
            else:
                yield node.lineno, module


def _under(name: str, package: str) -> bool:
    return name == package or name.startswith(f"{package}.")


def test_core_imports_no_domain() -> None:
    offending = [
        f"{path.relative_to(APP.parent)}:{line} imports {name}"
        for path in sorted((APP / "core").rglob("*.py"))
        for line, name in imports_of(path)
        if _under(name, "app") and name != "app" and not _under(name, "app.core")
    ]
    assert not offending, "app/core must not import a domain package:\n" + "\n".join(offending)


def test_app_never_imports_the_worker() -> None:
    offending = [
        f"{path.relative_to(APP.parent)}:{line} imports {name}"
        for path in sorted(APP.rglob("*.py"))
        if path not in ENTRY_POINTS
        for line, name in imports_of(path)
        if _under(name, "workers")
    ]
    assert not offending, "app/ must not import workers/:\n" + "\n".join(offending)


def test_the_checks_see_every_form_of_import(tmp_path: Path) -> None:
    """The walker itself: absolute, relative, `from app import x`, and nested imports."""
    package = tmp_path / "app" / "core"
    package.mkdir(parents=True)
    sample = package / "sample.py"
    sample.write_text(
        "import app.leads.models\n"
        "from app import users\n"
        "from ..auth import dependencies\n"
        "from . import db\n"
        "def f():\n"
        "    from workers.settings import FUNCTIONS\n"
    )
    found = [name for _, name in imports_of(sample, tmp_path)]
    assert found == [
        "app.leads.models",
        "app.users",
        "app.auth",
        "app.core",
        "workers.settings",
    ]
