"""Bounded templates: the one Jinja2 sandbox for every template customers or operators write
(campaign messages, welcome messages, keyword replies).

A template is a small language for messages, not a program: variables, ``if``, ``for`` over
short sequences, a handful of filters, a few text methods and the functions its caller passes
(``link()``). Whatever a template does, one render stays within:

- **values**: every value an operator, method, filter or subscript makes is measured, before
  it is made when its size is known in advance (``*``, ``+``, ``replace``, ``**``, ``join``)
  and right after otherwise; one value may hold at most ``VALUE_MAX`` characters, all the
  values of one render together at most ``WORK_MAX``, a number at most ``INT_BITS`` bits;
- **attributes and calls**: a short list (text methods that cannot grow a text, a loop's
  attributes, reading a mapping) and the caller's functions; nothing else, so no
  ``ljust``/``center``/``zfill``/``format``, no ``__class__``, no ``cycler`` or ``namespace``;
- **loops**: ``range()`` gives at most ``MAX_RANGE`` numbers, and every step of every loop
  counts against ``MAX_STEPS`` and checks the deadline, so an empty busy loop stops too;
- **time**: a deadline checked on every attribute, call, operator, filter, loop step and
  piece of output, counted in the rendering thread's own CPU time (``time.thread_time``), so
  a busy machine does not refuse a template whose render was merely kept waiting, while a
  render that computes without end still stops;
- **output**: produced piece by piece and stopped at the caller's cap.

Constructs that let a short template build without end (``{% set %}``, ``{% with %}``, macros,
blocks, ``~``, recursive loops, includes, ``{% autoescape %}``) are refused when the template is
checked, with the line they are on; so are unknown variables, filters and attributes. Checking
also renders the template once with sample values under the same limits, so a template that
cannot render is refused when it is saved, not when a customer is waiting.

Any failure is a ``TemplateRefused``: the caller sends nothing and records why.
"""

from __future__ import annotations

import builtins
import functools
import time
from collections.abc import Callable, Collection, Generator, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, cast

from jinja2 import (
    StrictUndefined,
    Template,
    TemplateError,
    TemplateSyntaxError,
    nodes,
    pass_eval_context,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import do_join
from jinja2.meta import find_undeclared_variables
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

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
_LOOP_GUARD = "siyu_loop_guard"


class TemplateRefused(Refusal):
    """A template the sandbox will not check or render; ``line`` says where, when known."""

    def __init__(self, template: str, /, *, line: int | None = None, **params: Any) -> None:
        super().__init__(template, **params)
        self.line = line


# -- one render's budget ---------------------------------------------------------------------------
@dataclass
class _Run:
    seconds: float
    callables: frozenset[int]
    deadline: float = 0.0
    work: int = 0
    steps: int = 0


_RUN: ContextVar[_Run | None] = ContextVar("siyu_template_run", default=None)


def _run() -> _Run:
    """The render in progress, after checking its deadline."""
    run = _RUN.get()
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


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str) else weight(value)


def _charge(run: _Run, value: Any) -> Any:
    if isinstance(value, int):
        _bits(value.bit_length())
    size = _size(value)
    if size > VALUE_MAX:
        raise TemplateRefused("a value in the template grew past {n} characters", n=VALUE_MAX)
    run.work += size
    if run.work > WORK_MAX:
        raise TemplateRefused("the template made more than {n} characters in all", n=WORK_MAX)
    return value


def _fits(size: int) -> None:
    if size > VALUE_MAX:
        raise TemplateRefused("a value in the template grew past {n} characters", n=VALUE_MAX)


def _bits(bits: int) -> None:
    if bits > INT_BITS:
        raise TemplateRefused("a number in the template grew past {bits} bits", bits=INT_BITS)


def _measure(args: Collection[Any]) -> None:
    for a in args:
        _fits(_size(a))


# -- filters and globals ---------------------------------------------------------------------------
def _bounded(f: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(f)  # keeps Jinja's pass_* marker
    def bounded(*args: Any, **kwargs: Any) -> Any:
        run = _run()
        _measure((*args, *kwargs.values()))
        return _charge(run, f(*args, **kwargs))

    return bounded


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> str:
    if attribute is not None:
        raise TemplateRefused("join takes a separator only")
    items, size = [], 0
    for item in value:
        size += _size(item) + len(str(d))
        _fits(size)
        items.append(item)
    return str(do_join(eval_ctx, items, d))


def _round(value: Any, precision: int = 0, method: str = "common") -> float:
    from jinja2.filters import do_round

    if not isinstance(precision, int) or abs(precision) > 20:
        raise TemplateRefused("round takes a precision from -20 to 20")
    return do_round(value, precision, method)  # type: ignore[arg-type]


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_RANGE:
        raise TemplateRefused("range() gives at most {n} numbers", n=MAX_RANGE)
    return r


def _loop_guard(iterable: Any) -> Iterator[Any]:
    """Wrapped around what every ``for`` walks: each step checks the deadline and counts."""
    for item in iterable:
        run = _run()
        run.steps += 1
        if run.steps > MAX_STEPS:
            raise TemplateRefused("loops may take at most {n} steps in one message", n=MAX_STEPS)
        yield item


class _GuardedLoops(CodeGenerator):
    """Compiles every ``{% for %}`` over ``_loop_guard`` (an empty loop calls nothing else)."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in list(node.find_all(nodes.For)):
            loop.iter = nodes.Filter(loop.iter, _LOOP_GUARD, [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)


def _finalize(value: Any) -> Any:
    _run()
    _fits(_size(value))
    return value


# -- the environment -------------------------------------------------------------------------------
def _callable_name(obj: Any) -> str:
    return str(getattr(obj, "__name__", type(obj).__name__))


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox with the limits above on every hook it has."""

    code_generator_class = _GuardedLoops
    intercepted_binops = frozenset(["+", "-", "*", "/", "//", "%", "**"])

    def __init__(self, *, autoescape: bool) -> None:
        super().__init__(
            autoescape=autoescape,
            undefined=StrictUndefined,
            finalize=_finalize,
            optimized=False,  # nothing a template says is worked out while compiling
            cache_size=0,
        )
        stock = self.filters
        self.filters = {name: _bounded(stock[name]) for name in FILTERS}
        self.filters.update(
            join=_bounded(_join), round=_bounded(_round), **{_LOOP_GUARD: _loop_guard}
        )
        self.globals = {"range": _range}

    # attributes: only the listed ones, and only on text, mappings and loops
    def getattr(self, obj: Any, attribute: str) -> Any:
        _run()
        if isinstance(obj, Undefined):
            return self.undefined(obj=obj, name=attribute)
        if (
            (isinstance(obj, str) and attribute in TEXT_METHODS)
            or (isinstance(obj, Mapping) and attribute in MAPPING_METHODS)
            or (isinstance(obj, LoopContext) and attribute in LOOP_ATTRIBUTES)
        ):
            return builtins.getattr(obj, attribute)
        if isinstance(obj, Mapping) and not attribute.startswith("_"):
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=attribute)
        raise TemplateRefused("'.{name}' cannot be used in templates", name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        run = _run()
        if isinstance(argument, str) and not isinstance(obj, Mapping):
            return self.getattr(obj, argument)
        try:
            return _charge(run, obj[argument])
        except (TypeError, LookupError):
            return self.undefined(obj=obj, name=argument)

    def call(
        __self,  # Jinja's own spelling: a keyword argument named self still passes
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        run = _run()
        if isinstance(__obj, Undefined):
            return __obj()  # says what was undefined
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        allowed = (
            __obj is _range
            or id(__obj) in run.callables
            or (isinstance(owner, str) and name in TEXT_METHODS)
            or (isinstance(owner, Mapping) and name in MAPPING_METHODS)
            or (isinstance(owner, LoopContext) and name in ("cycle", "changed"))
        )
        if not allowed:
            raise TemplateRefused(
                "calling {name} is not allowed in templates", name=_callable_name(__obj)
            )
        _measure((*args, *kwargs.values()))
        if isinstance(owner, str) and name == "replace" and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            times = owner.count(old) if old else len(owner) + 1
            _fits(len(owner) + times * max(0, len(new) - len(old)))
        return _charge(run, __context.call(__obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        run = _run()
        if operator == "%" and isinstance(left, str):
            raise TemplateRefused("% formatting of text is not allowed in templates")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and times > 0:
                    _fits(max(_size(seq), 1) * times)
            if isinstance(left, int) and isinstance(right, int):
                _bits(abs(left).bit_length() + abs(right).bit_length())
        elif operator == "+":
            _fits(_size(left) + _size(right))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            _bits(abs(left).bit_length() * right if abs(left) > 1 else 0)
        return _charge(run, self.binop_table[operator](left, right))


TEXT = BoundedSandbox(autoescape=False)
HTML = BoundedSandbox(autoescape=True)


# -- checking and rendering ------------------------------------------------------------------------
@dataclass(frozen=True)
class Compiled:
    """A checked template: the caller's variables it uses, and the compiled form."""

    variables: frozenset[str]
    template: Template


def _check_node(node: nodes.Node) -> None:
    line = node.lineno
    for node_type, what in REFUSED.items():
        if isinstance(node, node_type):
            raise TemplateRefused("{what} is not allowed in templates", line=line, what=what)
    if isinstance(node, nodes.For) and node.recursive:
        raise TemplateRefused("recursive loops are not allowed in templates", line=line)
    if isinstance(node, nodes.Filter) and node.name not in FILTERS:
        raise TemplateRefused("unknown filter '{name}'", line=line, name=node.name)
    if isinstance(node, nodes.Getattr) and node.attr not in ATTRIBUTES:
        raise TemplateRefused("'.{name}' cannot be used in templates", line=line, name=node.attr)
    if (
        isinstance(node, nodes.Mod)
        and isinstance(node.left, nodes.Const)
        and isinstance(node.left.value, str)
    ):
        raise TemplateRefused("% formatting of text is not allowed in templates", line=line)


def compile_template(
    source: str,
    *,
    variables: Collection[str],
    functions: Collection[str] = (),
    html: bool = False,
) -> Compiled:
    """Parse and check ``source``: syntax, refused constructs, unknown variables, filters and
    attributes. Raises TemplateRefused with the line."""
    if len(source) > MAX_SOURCE:
        raise TemplateRefused("the template is longer than {n} characters", n=MAX_SOURCE)
    env = HTML if html else TEXT
    try:
        tree = env.parse(source)
        used = _checked_tree(tree, set(variables) | set(functions))
        compiled = env.from_string(tree)
    except TemplateSyntaxError as exc:
        raise TemplateRefused(
            "syntax error: {reason}", line=exc.lineno, reason=exc.message
        ) from None
    except (RecursionError, MemoryError, SyntaxError):  # Jinja's and Python's own stack
        raise TemplateRefused("the template is nested too deeply") from None
    return Compiled(frozenset(used & set(variables)), compiled)


def _checked_tree(tree: nodes.Template, names: set[str]) -> set[str]:
    """The names ``tree`` uses, after checking every part of it."""
    every = list(tree.find_all(nodes.Node))
    if len(every) > MAX_NODES:
        raise TemplateRefused("the template has more than {n} parts", n=MAX_NODES)
    for node in every:
        _check_node(node)
    used = set(find_undeclared_variables(tree))
    if any(isinstance(n, nodes.Name) and n.name == "self" for n in every):
        used.add("self")  # the template's own reference: nothing a message needs
    unknown = sorted(used - names - {"range"})
    if unknown:
        line = next(
            (n.lineno for n in every if isinstance(n, nodes.Name) and n.name == unknown[0]), None
        )
        raise TemplateRefused("unknown variable '{name}'", line=line, name=unknown[0])
    return used


def _template_line(exc: BaseException) -> int | None:
    line, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# what a template's own mistakes raise; anything else (a database error in one of the caller's
# functions) is the caller's and passes through
_TEMPLATE_ERRORS = (
    TemplateError,
    ArithmeticError,
    AssertionError,
    AttributeError,
    LookupError,
    RecursionError,
    TypeError,
    ValueError,
)


def render(
    compiled: Compiled,
    values: Mapping[str, Any],
    *,
    cap: int,
    cut: bool = False,
    seconds: float = RENDER_SECONDS,
) -> str:
    """The text of one render within the limits. Past ``cap`` characters: refused, or with
    ``cut`` stopped there (the text returned then ends with the piece that passed the cap; the
    caller trims it). The callables among ``values`` are the functions the template may call.
    Raises TemplateRefused; a Refusal raised by one of those functions passes through."""
    run = _Run(seconds, frozenset(id(v) for v in values.values() if callable(v)))
    run.deadline = time.thread_time() + seconds
    token = _RUN.set(run)
    out: list[str] = []
    size = 0
    pieces = cast(Generator[str, None, None], compiled.template.generate(**values))
    try:
        for piece in pieces:
            size += len(piece)
            out.append(piece)
            if size > cap:
                if cut:
                    break
                raise TemplateRefused("the message is longer than {n} characters", n=cap)
            _run()
    except TemplateRefused as exc:
        exc.line = exc.line or _template_line(exc)
        raise
    except Refusal:
        raise
    except _TEMPLATE_ERRORS as exc:  # the template's own error (a type, a division by zero, …)
        raise TemplateRefused(
            "the template failed: {reason}",
            line=_template_line(exc),
            reason=f"{type(exc).__name__}: {exc}"[:200],
        ) from None
    finally:
        pieces.close()
        _RUN.reset(token)
    return "".join(out)
