"""What ``make messages`` (``pybabel extract``) takes for Siyu's words besides ``_()``: every
refusal class, found in the code, so that a new refusal needs no list kept by hand.

A refusal's English template is its message id (``raise TagError("a tag group needs a name")``):
each class deriving from ``Refusal``, anywhere in ``siyu``, is an extraction keyword. Those whose
first argument says where (``RuleError``, ``TemplateProblem``, ``EventRejected`` and classes
derived from them)
take their template second. ``python -m siyu.messages`` prints the ``-k`` options.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).parent
# Refusals built with where they happened first and the template second.
WHERE_FIRST = frozenset({"RuleError", "TemplateProblem", "EventRejected"})


def refusal_keywords(root: Path = SRC) -> dict[str, int]:
    """Each refusal class's name and which argument holds its template."""
    trees = [ast.parse(p.read_text(encoding="utf-8")) for p in sorted(root.rglob("*.py"))]
    found: dict[str, int] = {"Refusal": 1}
    grew = True
    while grew:
        grew = False
        for tree in trees:
            for node in ast.walk(tree):
                if not isinstance(node, ast.ClassDef) or node.name in found:
                    continue
                bases = [b.id for b in node.bases if isinstance(b, ast.Name) and b.id in found]
                if bases:
                    where_first = node.name in WHERE_FIRST or any(found[b] == 2 for b in bases)
                    found[node.name] = 2 if where_first else 1
                    grew = True
    return found


def keyword_options(root: Path = SRC) -> list[str]:
    """``pybabel extract`` options naming them: ``-k TagError -k RuleError:2 …``."""
    out: list[str] = []
    for name, at in sorted(refusal_keywords(root).items()):
        out += ["-k", name if at == 1 else f"{name}:{at}"]
    return out


if __name__ == "__main__":
    print(" ".join(keyword_options()))
