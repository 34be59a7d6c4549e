"""The import graph of pfcheck/: no cycles, and no module too long to read in one sitting.

Every `import`/`from ... import` of a pfcheck module counts, at module level and inside
functions alike (a lazy import that closes a cycle is still a cycle a reader must hold in
their head); only `if TYPE_CHECKING:` blocks are left out, since they never run."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pfcheck"
#: Generated data tables are not read in one sitting; they are read by a generator's rules.
GENERATED = {"_defaults_data.py", "_param_types_data.py", "_unused_data.py"}
MAX_LINES = 800


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path, modules: set[str]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            skipped.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            # `from pfcheck.postfix import relay` imports the module pfcheck.postfix.relay.
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("pfcheck"):
                found.add(name)
    found.discard(_module_name(path))
    return found


def _graph() -> dict[str, set[str]]:
    files = sorted(PACKAGE.rglob("*.py"))
    modules = {_module_name(path) for path in files}
    graph = {_module_name(path): _imports(path, modules) for path in files}
    # Importing a.b.c runs a/__init__ and a/b/__init__ first: edges, but not ones a reader
    # follows, and a package's __init__ importing its own submodules is how packages work.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not name.startswith(t + ".") and not (
            t.startswith(name + ".") and (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists())}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_is_read() -> None:
    graph = _graph()
    assert "pfcheck.engine.run" in graph["pfcheck.cli"] or any(
        "pfcheck.engine" in target for target in graph["pfcheck.cli"])
    assert "pfcheck.postfix.config" in graph["pfcheck.rules.base"]


def test_a_cycle_would_be_found() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_modules_fit_in_one_sitting() -> None:
    long = {str(path.relative_to(PACKAGE.parent)): n for path in PACKAGE.rglob("*.py")
            if path.name not in GENERATED and (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules above {MAX_LINES} lines: {long}"


def test_recipe_files_exist() -> None:
    """Every file docs/internals.md's recipes name (except the new `<name>` ones) exists."""
    import re

    root = PACKAGE.parent
    text = (root / "docs" / "internals.md").read_text(encoding="utf-8")
    recipes = text[text.index("## Recipes"):]
    named = {path for path in re.findall(r"`((?:pfcheck|tests|scripts|docs)/[^`\s]*|README\.md)`", recipes)
             if "<" not in path}
    assert len(named) >= 15
    missing = sorted(path for path in named if not (root / path).exists())
    assert not missing, f"recipes name files that do not exist: {missing}"
