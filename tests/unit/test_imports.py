"""The shape of the code's imports: the four layers lean on ``lambda_common`` alone,
``lambda_common`` on no layer, and no module reaches itself again through imports,
counting those made inside functions (a base module that imports its own subclass to
build it is a circle too), but not those only a type checker reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "lambda_common",
    "ingestion",
    "batch_layer",
    "speed_layer",
    "serving_layer",
    "lambda_demo",
    "lambda_monitoring",
    "lambda_dryrun",
    "local_stack",
)
LAYERS = ("ingestion", "batch_layer", "speed_layer", "serving_layer")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The product modules ``path`` imports, anywhere in it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _type_checking_only(node)
        for n in ast.walk(node)
    }
    this = _module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            # The longest product module the name is, or lies in.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != this:
                found.add(name)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    paths = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    modules = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imports(p, modules) for p in paths}
    # A package's __init__ is imported with every module below it; it is not a circle
    # for a module to import its own package's __init__.
    return {m: {i for i in deps if not m.startswith(i + ".")} for m, deps in graph.items()}


def test_the_scan_reads_the_imports(graph: dict[str, set[str]]) -> None:
    assert "lambda_common.kafka.eventlog" in graph["lambda_common.kafka.factory"]
    assert "ingestion.producer_confluent" in graph["ingestion.factory"]  # inside a function
    assert len(graph) > 100


def test_no_import_circles(graph: dict[str, set[str]]) -> None:
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for nxt in sorted(graph.get(module, ())):
            if state.get(nxt) == 1:
                circles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles)


def test_the_layers_lean_on_lambda_common_alone(graph: dict[str, set[str]]) -> None:
    wrong = [
        f"{module} imports {dep}"
        for module, deps in graph.items()
        for dep in deps
        if (top := module.split(".")[0]) in (*LAYERS, "lambda_common")
        and dep.split(".")[0] not in (top, "lambda_common")
    ]
    assert not wrong, "; ".join(sorted(wrong))


def test_every_module_opens_with_what_it_is_for() -> None:
    bare = [
        str(path.relative_to(ROOT))
        for pkg in PACKAGES
        for path in (ROOT / pkg).rglob("*.py")
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not bare, "modules without a docstring: " + ", ".join(sorted(bare))
