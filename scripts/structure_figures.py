"""Figures about the code's structure, for the capability-packages work (not a benchmark).

Prints: import cycles among siyu's modules (every import, lazy ones included), imports of one
capability's ``models`` from another, functions annotated to return ``dict[str, Any]``, lines of
hand-written translation tables, and API routes with a response model.
Usage: python scripts/structure_figures.py
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import grimp

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(SRC.parent))

from tests.import_contracts import strongly_connected  # noqa: E402


def capability(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 else module


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Groups of more than one module importing each other (the import contract's check)."""
    return strongly_connected(graph, set(graph.modules))


def model_imports(graph: grimp.ImportGraph) -> list[tuple[str, str]]:
    pairs = []
    for mod in sorted(graph.modules):
        if not mod.endswith(".models") or mod.count(".") < 2:
            continue
        for importer in graph.find_modules_that_directly_import(mod):
            if capability(importer) != capability(mod) and importer != "siyu.models":
                pairs.append((importer, mod))
    return sorted(pairs)


def dict_returns() -> int:
    n = 0
    for path in (SRC / "siyu").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            returns = getattr(node, "returns", None)
            if returns is not None and "dict[str, Any]" in ast.unparse(returns):
                n += 1
    return n


def translation_lines() -> int:
    console = SRC / "siyu" / "console"
    files = [*console.glob("i18n*.py"), *console.glob("refusals_zh*.py")]
    return sum(len(f.read_text(encoding="utf-8").splitlines()) for f in files)


def response_models() -> tuple[int, int]:
    from fastapi.routing import APIRoute

    from siyu.app import create_app

    def walk(routes: list) -> list[APIRoute]:
        out: list[APIRoute] = []
        for r in routes:
            if isinstance(r, APIRoute):
                out.append(r)
            elif hasattr(r, "original_router"):  # FastAPI's included router
                out.extend(walk(r.original_router.routes))
        return out

    api = [r for r in walk(create_app().routes) if r.include_in_schema]
    return sum(1 for r in api if declared(r.response_model)), len(api)


def declared(shape: object) -> bool:
    """A declared shape: a pydantic model or dataclass, or a container of them (a bare dict,
    ``dict[str, Any]`` or ``Any`` inferred from a return annotation is not)."""
    import dataclasses
    import typing

    from pydantic import BaseModel

    if isinstance(shape, type):
        return issubclass(shape, BaseModel) or dataclasses.is_dataclass(shape)
    return any(declared(a) for a in typing.get_args(shape))


def main() -> None:
    # an import under TYPE_CHECKING never runs, so it cannot make a cycle
    graph = grimp.build_graph(
        "siyu", include_external_packages=False, exclude_type_checking_imports=True
    )
    groups = cycles(graph)
    print(
        f"import cycles (strongly connected groups): {len(groups)}, "
        f"modules in them: {sum(len(g) for g in groups)}"
    )
    for g in groups:
        print("   ", " ".join(g[:8]), "…" if len(g) > 8 else "")
    pairs = model_imports(graph)
    print(f"cross-capability model imports: {len(pairs)}")
    print(f"functions returning dict[str, Any]: {dict_returns()}")
    print(f"lines of hand-written translation tables: {translation_lines()}")
    with_model, total = response_models()
    print(f"API routes with a response model: {with_model} of {total}")


if __name__ == "__main__":
    main()
