"""The shape of the house, checked on every run: which package may import which.

Read from the source with :mod:`ast`, so a forbidden import anywhere in a module (even inside a
function) fails here, with the module and the line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import ROOT


def _modules(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """(line, imported module, imported names) for every import in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module, [alias.name for alias in node.names]


def _violations(folders: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {module}"
            for folder in folders for path in _modules(folder)
            for line, module, _ in _imports(path)
            if module == forbidden or module.startswith(forbidden)
            or any(module == f or module.startswith(f + ".") for f in forbidden)]


def test_the_core_is_pure() -> None:
    assert _violations(["bot"], ("adapters", "storage", "sqlalchemy", "slack_bolt",
                                 "slack_sdk", "botbuilder", "aiohttp", "alembic")) == []


def test_front_ends_never_touch_storage() -> None:
    """Slack and Teams translate; the service and the deliverer own every row."""
    assert _violations(["adapters/slack", "adapters/teams"], ("storage",)) == []


def test_storage_never_imports_adapters() -> None:
    assert _violations(["storage"], ("adapters",)) == []


@pytest.mark.parametrize(("sdk", "home"), [
    ("botbuilder", ("adapters/teams/",)),
    ("slack_bolt", ("adapters/slack/",)),
    ("slack_sdk", ("adapters/slack/",)),
])
def test_each_platform_sdk_stays_in_its_folder(sdk: str, home: tuple[str, ...]) -> None:
    """A move to botbuilder's successor (or another Slack SDK) is one folder's work (the
    benchmarks in ``bench/`` measure the SDKs themselves and are not the product)."""
    outside = [v for v in _violations(["bot", "adapters", "storage", "migrations"], (sdk,))
               if not v.startswith(home)]
    assert outside == []


def test_no_module_imports_another_modules_private_names() -> None:
    found = [f"{path.relative_to(ROOT)}:{line} imports {name} from {module}"
             for folder in ["bot", "adapters", "storage"] for path in _modules(folder)
             for line, module, names in _imports(path)
             if module.startswith(("bot", "adapters", "storage"))
             for name in names if name.startswith("_") and not name.startswith("__")]
    assert found == []


@pytest.mark.parametrize("module", ["bot/events.py", "bot/replies.py", "bot/targets.py"])
def test_the_core_contract_is_typed(module: str) -> None:
    """Events, replies and targets are typed values, not loose dicts."""
    assert "dict[str, Any]" not in (ROOT / module).read_text()
    assert "Any" not in {name for _, _, names in _imports(ROOT / module) for name in names}


def _runtime_imports(path: Path) -> set[str]:
    """Modules ``path`` imports when it runs (``if TYPE_CHECKING:`` blocks do not count)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", "") == "TYPE_CHECKING":
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(), str(path)))
    return found


def test_the_core_has_no_import_cycles() -> None:
    """Each core module can be read (and tested) on its own terms, e.g. decisions and
    standards share the idea lookup instead of importing each other."""
    graph = {f"bot.{path.stem}": {m for m in _runtime_imports(path)
                                  if m.startswith("bot.") and m != f"bot.{path.stem}"}
             for path in _modules("bot") if path.stem != "__init__"}
    graph = {module: {m for m in deps if m in graph} for module, deps in graph.items()}
    visiting: list[str] = []
    done: set[str] = set()

    def cycle_from(module: str) -> list[str] | None:
        if module in visiting:
            return [*visiting[visiting.index(module):], module]
        if module in done:
            return None
        visiting.append(module)
        for dep in sorted(graph[module]):
            found = cycle_from(dep)
            if found:
                return found
        visiting.pop()
        done.add(module)
        return None

    assert [cycle for module in sorted(graph) if (cycle := cycle_from(module))] == []


HOST_ENTRY_POINTS = ("adapters.host.cli", "adapters.host.server", "adapters.host.digest_cli")
"""What starts things: nothing else imports them."""
HOST_CONTEXT = ("adapters.host.settings", "adapters.host.runtime", "adapters.host.signing",
                "adapters.host.request_limits")
"""What the host hands down: configuration, the runtime (engine, service, clock), signing."""
FRONT_ENDS = ("adapters.slack", "adapters.teams", "adapters.web", "adapters.console")


def _adapters_imports(folder: str) -> list[tuple[str, str]]:
    return [(str(path.relative_to(ROOT)), module) for path in _modules(folder)
            for module in _runtime_imports(path) if module.startswith("adapters.")]


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_adapters_show_three_kinds_and_no_arrow_runs_back_up() -> None:
    """host (entry points over its context) → front ends → jobs; the context is handed
    down. Jobs never import a front end or an entry point, front ends never import each
    other or an entry point, and the host's context imports neither jobs nor front ends."""
    wrong = []
    for path, module in _adapters_imports("adapters/jobs"):
        if _within(module, (*FRONT_ENDS, *HOST_ENTRY_POINTS)):
            wrong.append(f"job {path} imports {module}")
    for front in ("slack", "teams", "web"):
        own = f"adapters.{front}"
        for path, module in _adapters_imports(f"adapters/{front}"):
            if _within(module, HOST_ENTRY_POINTS) or (
                    _within(module, FRONT_ENDS) and not _within(module, (own,))):
                wrong.append(f"front end {path} imports {module}")
    for path, module in _adapters_imports("adapters/host"):
        if (path.endswith(tuple(f"{m.rsplit('.', 1)[1]}.py" for m in HOST_CONTEXT))
                and _within(module, (*FRONT_ENDS, "adapters.jobs", *HOST_ENTRY_POINTS))):
            wrong.append(f"host context {path} imports {module}")
    assert wrong == []
