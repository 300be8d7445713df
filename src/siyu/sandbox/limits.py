"""The sandbox's limits, what a template may name, and one render's budget (its run): every
value measured and charged, the deadline in the rendering thread's CPU time."""

from __future__ import annotations

import time
from collections.abc import Collection
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import nodes

from siyu.refusals import Refusal

MAX_SOURCE = 20_000  # characters of template source
VALUE_MAX = 100_000  # characters in one value the template makes
WORK_MAX = 2_000_000  # characters of all the values one render makes
INT_BITS = 4_096  # bits in one number
MAX_RANGE = 1_000  # numbers range() may give
MAX_STEPS = 100_000  # loop steps in one render, all loops together
MAX_NODES = 2_000  # parts of a parsed template (compiling costs time in proportion)
RENDER_SECONDS = 0.05  # of the rendering thread's CPU time


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


TEXT_METHODS = _words(
    "capitalize casefold count endswith find index isalnum isalpha isdecimal isdigit islower "
    "isnumeric isspace istitle isupper lower lstrip partition removeprefix removesuffix "
    "replace rfind rindex rpartition rsplit rstrip split splitlines startswith strip swapcase "
    "title upper"
)
MAPPING_METHODS = _words("get items keys values")
LOOP_ATTRIBUTES = _words(
    "changed cycle depth depth0 first index index0 last length nextitem previtem revindex revindex0"
)
ATTRIBUTES = TEXT_METHODS | MAPPING_METHODS | LOOP_ATTRIBUTES
FILTERS = _words(
    "abs capitalize default d e escape first float int join last length lower round string "
    "striptags title trim truncate upper"
)
REFUSED: dict[type[nodes.Node], str] = {
    nodes.Assign: "{% set %}",
    nodes.AssignBlock: "{% set %}",
    nodes.With: "{% with %}",
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.FilterBlock: "{% filter %}",
    nodes.Block: "{% block %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from %}",
    nodes.Extends: "{% extends %}",
    nodes.EvalContextModifier: "{% autoescape %}",
    nodes.Concat: "~",
}


class TemplateRefused(Refusal):
    """A template the sandbox will not check or render; ``line`` says where, when known."""

    def __init__(self, template: str, /, *, line: int | None = None, **params: Any) -> None:
        super().__init__(template, **params)
        self.line = line


# -- one render's budget ---------------------------------------------------------------------------
@dataclass
class Run:
    seconds: float
    callables: frozenset[int]
    deadline: float = 0.0
    work: int = 0
    steps: int = 0


RUN: ContextVar[Run | None] = ContextVar("siyu_template_run", default=None)


def current() -> Run:
    """The render in progress, after checking its deadline."""
    run = RUN.get()
    if run is None:
        raise TemplateRefused("a template renders only through siyu.sandbox.render")
    if time.thread_time() > run.deadline:
        raise TemplateRefused(
            "the template took longer than {ms} ms to render", ms=round(run.seconds * 1000)
        )
    return run


def weight(value: Any, limit: int = VALUE_MAX) -> int:
    """About how many characters ``value`` takes as text; counting stops past ``limit``."""
    total, stack = 0, [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v) + 2
        elif isinstance(v, bool) or v is None:
            total += 5
        elif isinstance(v, int):
            total += v.bit_length() // 3 + 2
        elif isinstance(v, dict):
            total += 2 + 2 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple | set | frozenset):
            total += 2 + 2 * len(v)
            stack.extend(v)
        else:
            total += 24
    return total


def size_of(value: Any) -> int:
    return len(value) if isinstance(value, str) else weight(value)


def charge(run: Run, value: Any) -> Any:
    if isinstance(value, int):
        bits(value.bit_length())
    size = size_of(value)
    if size > VALUE_MAX:
        raise TemplateRefused("a value in the template grew past {n} characters", n=VALUE_MAX)
    run.work += size
    if run.work > WORK_MAX:
        raise TemplateRefused("the template made more than {n} characters in all", n=WORK_MAX)
    return value


def fits(size: int) -> None:
    if size > VALUE_MAX:
        raise TemplateRefused("a value in the template grew past {n} characters", n=VALUE_MAX)


def bits(n: int) -> None:
    if n > INT_BITS:
        raise TemplateRefused("a number in the template grew past {bits} bits", bits=INT_BITS)


def measure(args: Collection[Any]) -> None:
    for a in args:
        fits(size_of(a))
