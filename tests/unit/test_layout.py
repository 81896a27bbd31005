"""The package layout reads as the pipeline: each stage imports only the stages before it.

Read from the source with ``ast`` (nothing is imported), so the test is fast and
sees lazy imports inside functions too; imports under ``if TYPE_CHECKING:`` are
type hints, not dependencies, and are left out.
"""

from __future__ import annotations

import ast
from pathlib import Path

RAG = Path(__file__).resolve().parents[2] / "rag"

# Stages in pipeline order. A module may import its own package and anything of a
# lower rank; the shared foundation (records, errors, settings, text helpers) imports no stage.
RANKS = {"ingest": 1, "llm": 1, "index": 2, "answer": 3, "server": 4, "web": 5, "cli": 6}
FOUNDATION = 0


def module_name(path: Path) -> str:
    parts = path.relative_to(RAG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def stage(module: str) -> str:
    """The stage a rag module belongs to ('' for the foundation)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in RANKS else ""


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names), lazy imports included, type-only ones not."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    hidden = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node)
              for child in node.body for n in ast.walk(child)}
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from rag.web import render`
    return found


def rag_modules() -> dict[str, set[str]]:
    graph = {module_name(p): imports(p) for p in sorted(RAG.rglob("*.py"))}
    return {m: {i for i in deps if i in graph and i != m} for m, deps in graph.items()} | {
        f"{m}#external": {i for i in deps if i not in graph} for m, deps in graph.items()
    }


def test_rag_never_imports_evals() -> None:
    offenders = {
        m.removesuffix("#external"): sorted(i for i in deps if i == "evals" or i.startswith("evals."))
        for m, deps in rag_modules().items()
        if m.endswith("#external")
    }
    assert {m: found for m, found in offenders.items() if found} == {}


def test_each_stage_imports_only_earlier_stages() -> None:
    wrong = []
    for module, deps in rag_modules().items():
        if module.endswith("#external"):
            continue
        own = stage(module)
        rank = RANKS.get(own, FOUNDATION)
        for dep in deps:
            other = stage(dep)
            if other == own:
                continue
            if RANKS.get(other, FOUNDATION) >= rank and not (other == "" and own == ""):
                wrong.append(f"{module} -> {dep}")
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = {m: deps for m, deps in rag_modules().items() if not m.endswith("#external")}
    # A package's __init__ is imported by every submodule; its own lazy re-exports are not edges back.
    graph = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*path[path.index(dep):], dep] if dep in path else [node, dep])
            elif dep not in state:
                visit(dep, [*path, dep])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_checks_see_a_violation() -> None:
    """The rules above are not vacuous: a later-stage import in an earlier stage is caught."""
    assert stage("rag.web.state") == "web" and stage("rag.types") == "" and stage("rag.text") == ""
    assert "rag.answer.chain" in rag_modules()["rag.web.state"]
    assert "rag.answer.chain" not in rag_modules()["rag.index.build"]
