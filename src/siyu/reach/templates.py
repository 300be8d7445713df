"""Message templates (千人千面): Jinja2 in a sandbox, checked when they are saved, rendered per
customer with limits on time and size.

A template is a small language for messages, not a program: variables, ``if``, ``for`` over
short lists, a handful of filters and ``link()``. Assignments, macros, ``~`` concatenation and
``%`` string formatting are refused when the template is saved, because each of them lets a
short template build an enormous string; ``*`` and ``+`` on strings are checked as they run;
every render has a deadline on its own CPU time (a thread the machine sets aside, or one
waiting on the database, is not slow for that) and an output cap. Unknown variables are refused at save time with
the line they are on, so a typo never reaches a customer.

What a template may say depends on the channel (``parts``): an SMS is Aliyun's approved text
with ``${var}`` placeholders plus one Jinja2 expression per placeholder; an email has a subject,
a text and an optional HTML body; WeCom and webhooks have a text.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MARKETING_SUFFIX = "拒收请回复R"
SMS_SINGLE, SMS_PART = 70, 67  # characters in one SMS; in each part of a long one
SMS_PARAM_MAX = 35  # Aliyun's limit on one template variable
MAX_SOURCE = 20_000
MAX_LOOP = 1_000
RENDER_SECONDS = 0.05  # of the rendering thread's own CPU time (time.thread_time)
OUTPUT_MAX = {"subject": 200, "text": 4_000, "html": 512_000, "param": SMS_PARAM_MAX}
# an approved SMS text's placeholders: Aliyun names them (${name}), Tencent numbers them ({1})
PLACEHOLDER = re.compile(r"\$\{(\w+)\}|(?<!\$)\{(\d+)\}")


def placeholders(text: str) -> list[str]:
    return [a or b for a, b in PLACEHOLDER.findall(text)]


def _shown(name: str) -> str:
    return f"{{{name}}}" if name.isdigit() else f"${{{name}}}"


SAFE_FILTERS = (
    "abs",
    "capitalize",
    "default",
    "d",
    "e",
    "escape",
    "first",
    "float",
    "int",
    "join",
    "last",
    "length",
    "lower",
    "round",
    "string",
    "striptags",
    "title",
    "trim",
    "truncate",
    "upper",
)
REFUSED = {
    nodes.Assign: "assignments ({% set %})",
    nodes.AssignBlock: "assignments ({% set %})",
    nodes.Macro: "macros",
    nodes.CallBlock: "call blocks",
    nodes.FilterBlock: "filter blocks",
    nodes.Include: "includes",
    nodes.Import: "imports",
    nodes.FromImport: "imports",
    nodes.Extends: "extends",
    nodes.Concat: "the ~ operator (write the pieces side by side)",
}

# What a template may use about a customer, with its Chinese label (the console lists them).
VARIABLES: dict[str, str] = {
    "name": "姓名",
    "city": "城市",
    "province": "省份",
    "store": "门店",
    "tier": "客户价值分层（RFM）",
    "stage": "生命周期阶段",
    "last_product": "最近购买的商品",
    "days_since_purchase": "距上次购买天数",
    "recommended": "推荐商品",
}
FUNCTIONS = {"link": "追踪链接 link('https://…')"}
PERSONAL = frozenset({"name", "last_product", "days_since_purchase", "recommended"})

_deadline: ContextVar[float] = ContextVar("template_deadline", default=math.inf)


class TemplateProblem(ValueError):
    """A template that cannot be saved or rendered: ``part`` and ``line`` say where."""

    def __init__(self, part: str, message: str, line: int | None = None) -> None:
        where = f"{part} line {line}" if line else part
        super().__init__(f"{where}: {message}")
        self.part, self.line, self.message = part, line, message


class MissingVariable(Exception):
    """A customer lacks a variable the template uses and the policy says skip them."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _check_time() -> None:
    if time.thread_time() > _deadline.get():
        raise SecurityError("the template took too long to render")


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_LOOP:
        raise SecurityError(f"a loop may run at most {MAX_LOOP} times")
    return r


class MessageSandbox(SandboxedEnvironment):
    """The sandbox with the limits above: arithmetic that could build huge values is checked,
    and every call and attribute read checks the render's deadline."""

    intercepted_binops = frozenset(["*", "**", "+", "%"])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _check_time()
        if operator == "%" and isinstance(left, str):
            raise SecurityError("% string formatting is not allowed")
        if operator == "**" and isinstance(right, int | float) and abs(right) > 64:
            raise SecurityError("exponent too large")
        if operator == "*" and (isinstance(left, str | list) or isinstance(right, str | list)):
            size = len(left if isinstance(left, str | list) else right)
            times = right if isinstance(left, str | list) else left
            if isinstance(times, int) and size * times > OUTPUT_MAX["text"]:
                raise SecurityError("repetition too large")
        result = super().call_binop(context, operator, left, right)
        if isinstance(result, str | list) and len(result) > OUTPUT_MAX["html"]:
            raise SecurityError("value too large")
        return result

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_time()
        return super().call(__context, __obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _check_time()
        return super().getattr(obj, attribute)


def _environment(autoescape: bool) -> MessageSandbox:
    env = MessageSandbox(autoescape=autoescape, undefined=StrictUndefined)
    env.filters = {k: v for k, v in env.filters.items() if k in SAFE_FILTERS}
    env.globals = {"range": _range}
    return env


_TEXT = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


def parts(channel: str, template: Mapping[str, Any]) -> dict[str, str]:
    """The Jinja2 sources of a channel's template, by part name (``params.x`` for SMS)."""
    if channel == "sms":
        params = template.get("params") or {}
        if not isinstance(params, dict):
            raise TemplateProblem("params", "must map each ${…} in the text to a value")
        return {f"params.{k}": str(v) for k, v in params.items()}
    if channel == "oa":
        data = template.get("data") or {}
        if not isinstance(data, dict):
            raise TemplateProblem("data", "must map each field of the template to a value")
        return {f"data.{k}": str(v) for k, v in data.items()}
    if channel == "email":
        out = {
            "subject": str(template.get("subject") or ""),
            "text": str(template.get("text") or ""),
        }
        if template.get("html"):
            out["html"] = str(template["html"])
        return out
    return {"text": str(template.get("text") or "")}


def _kind(part: str) -> str:
    return "param" if part.startswith("params.") else part if part in OUTPUT_MAX else "text"


def _line_of(source: str, name: str) -> int | None:
    for n, line in enumerate(source.splitlines(), 1):
        if re.search(rf"\b{re.escape(name)}\b", line):
            return n
    return None


def check_part(part: str, source: str) -> frozenset[str]:
    """Compile one part; returns the variables it uses. Raises TemplateProblem with the line."""
    return _compiled(part, source)[0]


@lru_cache(maxsize=256)
def _compiled(part: str, source: str) -> tuple[frozenset[str], Template]:
    if len(source) > MAX_SOURCE:
        raise TemplateProblem(part, f"longer than {MAX_SOURCE} characters")
    env = _HTML if part == "html" else _TEXT
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(part, f"syntax error: {exc.message}", exc.lineno) from None
    for node_type, what in REFUSED.items():
        found = next(iter(tree.find_all(node_type)), None)
        if found is not None:
            raise TemplateProblem(part, f"{what} are not allowed in messages", found.lineno)
    for f in tree.find_all(nodes.Filter):
        if f.name not in env.filters:
            raise TemplateProblem(part, f"unknown filter '{f.name}'", f.lineno)
    used = meta.find_undeclared_variables(tree)
    unknown = sorted(used - set(VARIABLES) - set(FUNCTIONS) - {"range"})
    if unknown:
        name = unknown[0]
        raise TemplateProblem(part, f"unknown variable '{name}'", _line_of(source, name))
    try:
        compiled = env.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(part, f"syntax error: {exc.message}", exc.lineno) from None
    return frozenset(used & set(VARIABLES)), compiled


SHARED_TEXT = {
    "wecom": "'{name}' differs per customer, but a WeCom mass message is one text for many "
    "customers: use store, city, province, tier or stage",
    "wecom_group": "'{name}' belongs to one customer, but a group message is one text for the "
    "whole group: write it without customer variables",
}


@dataclass(frozen=True)
class Checked:
    """A template that may be saved: the variables it uses, and for SMS the approved text."""

    variables: frozenset[str]
    sms_text: str | None = None


def check_template(channel: str, template: Mapping[str, Any], *, purpose: str) -> Checked:
    """Everything that can be known before sending: syntax, variables, the channel's required
    parts, the marketing SMS suffix, the missing-variable policy."""
    used: set[str] = set()
    for part, source in parts(channel, template).items():
        used |= check_part(part, source)
    policy = template.get("on_missing", "fallback")
    if policy not in ("fallback", "skip"):
        raise TemplateProblem("on_missing", "fallback or skip")
    fallbacks = template.get("fallbacks") or {}
    if not isinstance(fallbacks, dict) or set(fallbacks) - set(VARIABLES):
        raise TemplateProblem("fallbacks", "a text for some of: " + ", ".join(VARIABLES))
    if channel == "sms":
        return Checked(frozenset(used), _check_sms(template, purpose))
    if channel == "email":
        if not str(template.get("subject") or "").strip():
            raise TemplateProblem("subject", "an email needs a subject")
        if not str(template.get("text") or "").strip():
            raise TemplateProblem("text", "an email needs a text body (HTML is optional)")
    elif channel in SHARED_TEXT:  # one text for many: no variable that differs per customer
        refused = sorted(used & PERSONAL) if channel == "wecom" else sorted(used)
        if refused:
            raise TemplateProblem("text", SHARED_TEXT[channel].format(name=refused[0]))
        if not str(template.get("text") or "").strip():
            raise TemplateProblem("text", "the message is empty")
    elif channel == "oa":
        if purpose == "marketing":
            raise TemplateProblem(
                "purpose",
                "WeChat allows official-account template messages for service notices only; "
                "reach followers for marketing through WeCom or SMS",
            )
        if not str(template.get("template_id") or "").strip():
            raise TemplateProblem("template_id", "the approved template's id")
        if not template.get("data"):
            raise TemplateProblem("data", "the template's fields, e.g. thing2 = {{ last_product }}")
    elif channel == "webhook":
        if not str(template.get("url") or "").startswith(("http://", "https://")):
            raise TemplateProblem("url", "a webhook needs an http:// or https:// address")
    elif not str(template.get("text") or "").strip():
        raise TemplateProblem("text", "the message is empty")
    return Checked(frozenset(used))


def _check_sms(template: Mapping[str, Any], purpose: str) -> str:
    if not (template.get("sign_name") and template.get("template_code")):
        raise TemplateProblem("template_code", "an SMS needs sign_name and template_code")
    text = str(template.get("text") or "")
    if not text:
        raise TemplateProblem(
            "text", "the approved template text, with ${…} (Aliyun) or {1} (Tencent) placeholders"
        )
    names = placeholders(text)
    params = template.get("params") or {}
    missing = [n for n in names if n not in params]
    if missing:
        raise TemplateProblem(
            f"params.{missing[0]}", f"the text has {_shown(missing[0])} but no value"
        )
    extra = [k for k in params if k not in names]
    if extra:
        raise TemplateProblem(f"params.{extra[0]}", "not a placeholder of the approved text")
    if purpose == "marketing" and MARKETING_SUFFIX not in text:
        raise TemplateProblem("text", f"a marketing SMS must end with 「{MARKETING_SUFFIX}」")
    return text


def sms_parts(content: str) -> int:
    """How many SMS a text costs: one up to 70 characters (signature included), else 67 each."""
    n = len(content)
    return 1 if n <= SMS_SINGLE else math.ceil(n / SMS_PART)


def _render(part: str, source: str, values: Mapping[str, Any]) -> str:
    cap = OUTPUT_MAX[_kind(part)]
    try:  # compiled once per process, before the clock starts: the deadline is for rendering
        compiled = _compiled(part, source)[1]
    except TemplateError as exc:
        raise TemplateProblem(part, str(exc)) from None
    token = _deadline.set(time.thread_time() + RENDER_SECONDS)
    try:
        out: list[str] = []
        size = 0
        chunks: Iterator[str] = compiled.generate(**values)
        for chunk in chunks:
            size += len(chunk)
            if size > cap:
                if part.startswith("params.") and "://" not in "".join(out) + chunk:
                    out.append(chunk)  # Aliyun takes 35 characters: keep the start of a name
                    break
                raise TemplateProblem(part, f"the message is longer than {cap} characters")
            out.append(chunk)
            _check_time()
        return "".join(out)[:cap]
    except SecurityError as exc:
        raise TemplateProblem(part, str(exc)) from None
    except TemplateError as exc:
        raise TemplateProblem(part, str(exc)) from None
    finally:
        _deadline.reset(token)


def render(
    channel: str,
    template: Mapping[str, Any],
    variables: Mapping[str, Any],
    *,
    link: Callable[[str], str] | None = None,
) -> dict[str, str]:
    """The message for one customer, by part. Raises MissingVariable when the customer lacks a
    used variable and the policy is skip (or no fallback text is given), TemplateProblem when
    the sandbox refuses the render."""
    sources = parts(channel, template)
    policy = template.get("on_missing", "fallback")
    fallbacks = template.get("fallbacks") or {}
    values: dict[str, Any] = {}
    for part, source in sources.items():
        for name in check_part(part, source):
            value = variables.get(name)
            if value is None or value == "":
                if policy == "skip" or name not in fallbacks:
                    raise MissingVariable(name)
                value = fallbacks[name]
            values[name] = value
    values["link"] = link or (lambda url: str(url))
    return {part: _render(part, source, values) for part, source in sources.items()}


def sms_content(template: Mapping[str, Any], rendered: Mapping[str, str]) -> str:
    """What the customer's phone shows: 【signature】 and the approved text with its values."""
    params = {k.removeprefix("params."): v for k, v in rendered.items()}
    body = PLACEHOLDER.sub(
        lambda m: params.get(m.group(1) or m.group(2), ""), str(template.get("text") or "")
    )
    return f"【{template.get('sign_name', '')}】{body}"
