"""The package's import graph in figures: modules, import arrows between them, circles, the largest file.

    python scripts/import_graph.py [SRC] [--packages]

``--packages`` counts each sub-package (``store/``, ``cli/`` ...) as one node, as an architecture drawing does. A
package's ``__init__.py`` only hands names on: its own imports are not counted, imports of it are.
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, name: str, is_package: bool, modules) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = name.split(".") if is_package else name.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)] if node.level else []
            target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            for alias in node.names:  # a submodule when there is one by that name, else a name of the module
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", nargs="?", default="src", type=Path)
    parser.add_argument("--packages", action="store_true")
    args = parser.parse_args()
    files = [p for p in sorted(args.src.rglob("*.py")) if "migrations" not in p.parts]
    names = {module_name(p, args.src): p for p in files}

    def node(module: str) -> str:
        parts = module.split(".")
        if args.packages and len(parts) > 2 and (args.src / Path(*parts[:2])).is_dir():
            return ".".join(parts[:2])
        return module

    edges = set()
    for name, path in names.items():
        for target in imports(path, name, path.name == "__init__.py", names):
            while target and target not in names:
                target = target.rpartition(".")[0]
            if target and node(target) != node(name) and path.name != "__init__.py":
                edges.add((node(name), node(target)))
    nodes = {node(name) for name in names}
    circles = strongly_connected([n for n in nodes], edges)
    back_up = sorted((a, b) for a, b in edges if a.startswith(b + "."))  # a module importing its own package's front door
    largest = max(files, key=lambda p: len(p.read_text().splitlines()))
    print(f"modules: {len(names)}; nodes: {len(nodes)}; import arrows: {len(edges)}; "
          f"circles: {len(circles)} {circles if circles else ''}; imports of an enclosing package: {len(back_up)} "
          f"{back_up if back_up else ''}; "
          f"largest file: {largest.relative_to(args.src)} ({len(largest.read_text().splitlines())} lines)")


def strongly_connected(nodes: list[str], edges: set[tuple[str, str]]) -> list[list[str]]:
    """The groups of nodes that import each other in a loop (Tarjan)."""
    graph = {n: [b for a, b in edges if a == n] for n in nodes}
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, []):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for n in nodes:
        if n not in index:
            visit(n)
    return found


if __name__ == "__main__":
    main()
