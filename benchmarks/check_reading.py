"""Issue 23's reading targets, measured: modules over 400 lines in ``src/``, functions over 60 lines in
``training/`` and ``experiments/``, and import cycles among ``mlml``'s modules.

An import counts where it runs when the module is imported: module level, outside ``if TYPE_CHECKING:`` (an
import inside a function runs on call and is how a layer reaches up without a cycle). A package's
``__init__`` counts as the package. Prints each breach and the counts; exits 1 if any target is missed.

Run: ``python benchmarks/check_reading.py [SRC]`` (default ``src``).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
FUNCTION_PACKAGES = ("training", "experiments")


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def load_time_imports(tree: ast.Module, name: str, is_package: bool, modules: set[str]) -> set[str]:
    """The ``mlml`` modules a module imports when it is itself imported."""
    found: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]

    def resolve(target: str) -> None:
        while target and target not in modules:  # `from mlml.x import name`: name may be an attribute
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    resolve(alias.name)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                for alias in node.names:
                    resolve(f"{base}.{alias.name}")
            elif isinstance(node, ast.If) and not _is_type_checking(node):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for handler in node.handlers:
                    visit(handler.body)
                visit(node.orelse)
                visit(node.finalbody)

    visit(tree.body)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def connect(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def main() -> int:
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    paths = sorted(src.rglob("*.py"))
    modules = {module_name(p, src) for p in paths}
    long_modules, long_functions, graph, largest = [], [], {}, 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        n_lines = len(text.splitlines())
        largest = max(largest, n_lines)
        if n_lines > MAX_MODULE_LINES:
            long_modules.append((n_lines, path))
        tree = ast.parse(text)
        name = module_name(path, src)
        graph[name] = load_time_imports(tree, name, path.name == "__init__.py", modules)
        if set(path.relative_to(src).parts[1:-1]) & set(FUNCTION_PACKAGES):
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = node.end_lineno - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        long_functions.append((length, f"{path}:{node.lineno} {node.name}"))
    # a package imports its own submodules freely (its __init__ re-exports them): edges from a package into its
    # own subtree are not cycles of the layering, so they are left out
    layered = {m: {t for t in targets if not t.startswith(m + ".")} for m, targets in graph.items()}
    found_cycles = cycles(layered)
    print(f"{len(paths)} modules under {src}")
    print(f"modules over {MAX_MODULE_LINES} lines: {len(long_modules)} (largest: {largest} lines)")
    for n, path in sorted(long_modules, reverse=True):
        print(f"  {n:5d} {path}")
    print(f"functions over {MAX_FUNCTION_LINES} lines in {', '.join(FUNCTION_PACKAGES)}: {len(long_functions)}")
    for n, where in sorted(long_functions, reverse=True):
        print(f"  {n:5d} {where}")
    print(f"import cycles (load-time imports): {len(found_cycles)}")
    for component in found_cycles:
        print(f"  {' <-> '.join(component)}")
    return 1 if long_modules or long_functions or found_cycles else 0


if __name__ == "__main__":
    raise SystemExit(main())
