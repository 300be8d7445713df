"""A contract import-linter does not ship: no import cycles between modules.

import-linter's ``acyclic_siblings`` checks packages; this one checks modules, lazy imports
inside functions included (they are cycles all the same: one of the two cannot be understood,
or loaded in a fresh process, without the other). Imports under ``TYPE_CHECKING`` never run and
are left out by the configuration's ``exclude_type_checking_imports``.
"""

from __future__ import annotations

import grimp
from importlinter import Contract, ContractCheck, fields, output


def strongly_connected(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Groups of more than one module that import each other, directly or not (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    groups: list[list[str]] = []

    def edges(m: str) -> list[str]:
        return sorted(n for n in graph.find_modules_directly_imported_by(m) if n in modules)

    for root in sorted(modules):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on.add(root)
        work = [(root, iter(edges(root)))]
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(edges(nxt))))
                    break
                if nxt in on:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        m = stack.pop()
                        on.discard(m)
                        group.append(m)
                        if m == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


class AcyclicModulesContract(Contract):
    """No module of ``root`` imports, through any chain, a module that imports it back."""

    type_name = "acyclic_modules"
    root = fields.StringField()

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        root = str(self.root)
        modules = {m for m in graph.modules if m == root or m.startswith(root + ".")}
        groups = strongly_connected(graph, modules)
        return ContractCheck(kept=not groups, warnings=[], metadata={"groups": groups})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for group in check.metadata["groups"]:
            output.print_error(f"These modules import each other: {', '.join(group)}")
            output.new_line()
