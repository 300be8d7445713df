"""The bounded Jinja2 environment: filters and globals that measure what they make, every
``for`` compiled over a guard that counts steps and checks the deadline, and hooks on every
attribute, item, call and operator."""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import do_join
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from siyu.sandbox import limits as budget
from siyu.sandbox.limits import TemplateRefused

_LOOP_GUARD = "siyu_loop_guard"


# -- filters and globals ---------------------------------------------------------------------------
def _bounded(f: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(f)  # keeps Jinja's pass_* marker
    def bounded(*args: Any, **kwargs: Any) -> Any:
        run = budget.current()
        budget.measure((*args, *kwargs.values()))
        return budget.charge(run, f(*args, **kwargs))

    return bounded


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Any, d: str = "", attribute: Any = None) -> str:
    if attribute is not None:
        raise TemplateRefused("join takes a separator only")
    items, size = [], 0
    for item in value:
        size += budget.size_of(item) + len(str(d))
        budget.fits(size)
        items.append(item)
    return str(do_join(eval_ctx, items, d))


def _round(value: Any, precision: int = 0, method: str = "common") -> float:
    from jinja2.filters import do_round

    if not isinstance(precision, int) or abs(precision) > 20:
        raise TemplateRefused("round takes a precision from -20 to 20")
    return do_round(value, precision, method)  # type: ignore[arg-type]


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > budget.MAX_RANGE:
        raise TemplateRefused("range() gives at most {n} numbers", n=budget.MAX_RANGE)
    return r


def _loop_guard(iterable: Any) -> Iterator[Any]:
    """Wrapped around what every ``for`` walks: each step checks the deadline and counts."""
    for item in iterable:
        run = budget.current()
        run.steps += 1
        if run.steps > budget.MAX_STEPS:
            raise TemplateRefused(
                "loops may take at most {n} steps in one message", n=budget.MAX_STEPS
            )
        yield item


class _GuardedLoops(CodeGenerator):
    """Compiles every ``{% for %}`` over ``_loop_guard`` (an empty loop calls nothing else)."""

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        for loop in list(node.find_all(nodes.For)):
            loop.iter = nodes.Filter(loop.iter, _LOOP_GUARD, [], [], None, None, lineno=loop.lineno)
        super().visit_Template(node, frame)


def _finalize(value: Any) -> Any:
    budget.current()
    budget.fits(budget.size_of(value))
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
        self.filters = {name: _bounded(stock[name]) for name in budget.FILTERS}
        self.filters.update(
            join=_bounded(_join), round=_bounded(_round), **{_LOOP_GUARD: _loop_guard}
        )
        self.globals = {"range": _range}

    # attributes: only the listed ones, and only on text, mappings and loops
    def getattr(self, obj: Any, attribute: str) -> Any:
        budget.current()
        if isinstance(obj, Undefined):
            return self.undefined(obj=obj, name=attribute)
        if (
            (isinstance(obj, str) and attribute in budget.TEXT_METHODS)
            or (isinstance(obj, Mapping) and attribute in budget.MAPPING_METHODS)
            or (isinstance(obj, LoopContext) and attribute in budget.LOOP_ATTRIBUTES)
        ):
            return builtins.getattr(obj, attribute)
        if isinstance(obj, Mapping) and not attribute.startswith("_"):
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=attribute)
        raise TemplateRefused("'.{name}' cannot be used in templates", name=attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        run = budget.current()
        if isinstance(argument, str) and not isinstance(obj, Mapping):
            return self.getattr(obj, argument)
        try:
            return budget.charge(run, obj[argument])
        except (TypeError, LookupError):
            return self.undefined(obj=obj, name=argument)

    def call(
        __self,  # Jinja's own spelling: a keyword argument named self still passes
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        run = budget.current()
        if isinstance(__obj, Undefined):
            return __obj()  # says what was undefined
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        allowed = (
            __obj is _range
            or id(__obj) in run.callables
            or (isinstance(owner, str) and name in budget.TEXT_METHODS)
            or (isinstance(owner, Mapping) and name in budget.MAPPING_METHODS)
            or (isinstance(owner, LoopContext) and name in ("cycle", "changed"))
        )
        if not allowed:
            raise TemplateRefused(
                "calling {name} is not allowed in templates", name=_callable_name(__obj)
            )
        budget.measure((*args, *kwargs.values()))
        if isinstance(owner, str) and name == "replace" and len(args) >= 2:
            old, new = str(args[0]), str(args[1])
            times = owner.count(old) if old else len(owner) + 1
            budget.fits(len(owner) + times * max(0, len(new) - len(old)))
        return budget.charge(run, __context.call(__obj, *args, **kwargs))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        run = budget.current()
        if operator == "%" and isinstance(left, str):
            raise TemplateRefused("using % to format text is not allowed in templates")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int) and times > 0:
                    budget.fits(max(budget.size_of(seq), 1) * times)
            if isinstance(left, int) and isinstance(right, int):
                budget.bits(abs(left).bit_length() + abs(right).bit_length())
        elif operator == "+":
            budget.fits(budget.size_of(left) + budget.size_of(right))
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            budget.bits(abs(left).bit_length() * right if abs(left) > 1 else 0)
        return budget.charge(run, self.binop_table[operator](left, right))


TEXT = BoundedSandbox(autoescape=False)
HTML = BoundedSandbox(autoescape=True)
