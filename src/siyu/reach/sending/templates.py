"""Message templates (千人千面): Jinja2 in the bounded sandbox (``siyu.sandbox``), checked when
they are saved, rendered per customer within its limits on time and size.

A template is a small language for messages, not a program: variables, ``if``, ``for`` over
short lists, a handful of filters and ``link()``. What the sandbox refuses (assignments,
macros, ``~``, ``%`` on text, methods that grow a text, …) is refused when the template is
saved, with the part and line; so are unknown variables, so a typo never reaches a customer.
Saving also renders each part once with sample values under the same limits.

What a template may say depends on the channel (``parts``): an SMS is Aliyun's approved text
with ``${var}`` placeholders plus one Jinja2 expression per placeholder; an email has a subject,
a text and an optional HTML body; WeCom and webhooks have a text.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from siyu import runtime, sandbox
from siyu.i18n import N_
from siyu.reach.sending import variables
from siyu.refusals import Refusal
from siyu.sandbox import TemplateRefused

MARKETING_SUFFIX = "拒收请回复R"
SMS_SINGLE, SMS_PART = 70, 67  # characters in one SMS; in each part of a long one
SMS_PARAM_MAX = 35  # Aliyun's limit on one template variable
MAX_LINKS = 10  # different link() addresses in one message (each is a row of its own)
MAX_LINK = 1_800  # characters in one, before the UTM parameters (the column holds 2,000)
OUTPUT_MAX = {"subject": 200, "text": 4_000, "html": 512_000, "param": SMS_PARAM_MAX}
# an approved SMS text's placeholders: Aliyun names them (${name}), Tencent numbers them ({1})
PLACEHOLDER = re.compile(r"\$\{(\w+)\}|(?<!\$)\{(\d+)\}")


def placeholders(text: str) -> list[str]:
    return [a or b for a, b in PLACEHOLDER.findall(text)]


def _shown(name: str) -> str:
    return f"{{{name}}}" if name.isdigit() else f"${{{name}}}"


# What a template may call besides the customers' variables (``variables.labels()``).
FUNCTIONS = {"link": "追踪链接 link('https://…')"}


class TemplateProblem(Refusal):
    """A template that cannot be saved or rendered: ``part`` and ``line`` say where, the reason
    is a refusal of its own (so the console says it in Chinese too)."""

    def __init__(self, part: str, template: str, /, line: int | None = None, **params: Any) -> None:
        reason = TemplateRefused(template, line=line, **params)
        if line:
            super().__init__(
                N_("{part} line {line}: {reason}"), part=part, line=line, reason=reason
            )
        else:
            super().__init__(N_("{part}: {reason}"), part=part, reason=reason)
        self.part, self.line, self.message = part, line, str(reason)


class MissingVariable(Exception):
    """A customer lacks a variable the template uses and the policy says skip them."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def parts(channel: str, template: Mapping[str, Any]) -> dict[str, str]:
    """The Jinja2 sources of a channel's template, by part name (``params.x`` for SMS)."""
    if channel == "sms":
        params = template.get("params") or {}
        if not isinstance(params, dict):
            raise TemplateProblem("params", "must map each placeholder of the text to a value")
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


def check_part(part: str, source: str) -> frozenset[str]:
    """Check one part and try it with sample values; returns the variables it uses. Raises
    TemplateProblem with the line."""
    return _compiled(part, source).variables


def _sample_link(url: str) -> str:
    if not str(url).startswith(("http://", "https://")):
        raise TemplateProblem("link", "link() takes an http:// or https:// address")
    return "https://s.cn/l/1"  # short: an SMS link's length is known only when it is sent


def _compiled(part: str, source: str) -> sandbox.Compiled:
    checked = _checked(part, source)
    if isinstance(checked, TemplateRefused):
        raise TemplateProblem(part, "{reason}", line=checked.line, reason=checked)
    return checked


@lru_cache(maxsize=256)
def _checked(part: str, source: str) -> sandbox.Compiled | TemplateRefused:
    """The compiled part, or why it is refused (kept too: a campaign whose template no longer
    checks is not checked again for each of its rows)."""
    try:
        compiled = sandbox.compile_template(
            source, variables=variables.labels(), functions=FUNCTIONS, html=part == "html"
        )
        _bounded_render(part, compiled, {**variables.samples(), "link": _counted(_sample_link)})
    except TemplateRefused as exc:
        return exc.with_traceback(None)
    return compiled


runtime.forgets("reach.templates.checked", _checked.cache_clear)


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
    if not isinstance(fallbacks, dict) or set(fallbacks) - set(variables.labels()):
        raise TemplateProblem(
            "fallbacks", "a text for some of: {names}", names=", ".join(variables.labels())
        )
    if channel == "sms":
        return Checked(frozenset(used), _check_sms(template, purpose))
    if channel == "email":
        if not str(template.get("subject") or "").strip():
            raise TemplateProblem("subject", "an email needs a subject")
        if not str(template.get("text") or "").strip():
            raise TemplateProblem("text", "an email needs a text body (HTML is optional)")
    elif channel in ("wecom", "wecom_group"):  # one text for many: nothing per customer
        refused = sorted(used & variables.personal()) if channel == "wecom" else sorted(used)
        if refused and channel == "wecom":
            raise TemplateProblem(
                "text",
                "'{name}' differs per customer, but a WeCom mass message is one text for many "
                "customers: use store, city, province, tier or stage",
                name=refused[0],
            )
        if refused:
            raise TemplateProblem(
                "text",
                "'{name}' belongs to one customer, but a group message is one text for the "
                "whole group: write it without customer variables",
                name=refused[0],
            )
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
            raise TemplateProblem(
                "data",
                "the template's fields, e.g. {example}",
                example="thing2 = {{ last_product }}",
            )
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
            "text",
            "the approved template text, with {aliyun} (Aliyun) or {tencent} (Tencent) placeholders",
            aliyun="${…}",
            tencent="{1}",
        )
    names = placeholders(text)
    params = template.get("params") or {}
    missing = [n for n in names if n not in params]
    if missing:
        raise TemplateProblem(
            f"params.{missing[0]}",
            "the text has {placeholder} but no value",
            placeholder=_shown(missing[0]),
        )
    extra = [k for k in params if k not in names]
    if extra:
        raise TemplateProblem(f"params.{extra[0]}", "not a placeholder of the approved text")
    if purpose == "marketing" and MARKETING_SUFFIX not in text:
        raise TemplateProblem(
            "text", "a marketing SMS must end with 「{suffix}」", suffix=MARKETING_SUFFIX
        )
    return text


def sms_parts(content: str) -> int:
    """How many SMS a text costs: one up to 70 characters (signature included), else 67 each."""
    n = len(content)
    return 1 if n <= SMS_SINGLE else math.ceil(n / SMS_PART)


def _bounded_render(part: str, compiled: sandbox.Compiled, values: Mapping[str, Any]) -> str:
    cap = OUTPUT_MAX[_kind(part)]
    if not part.startswith("params."):
        return sandbox.render(compiled, values, cap=cap)
    text = sandbox.render(compiled, values, cap=cap, cut=True)
    if len(text) > cap and "://" in text:  # a link cut short would lead nowhere
        raise TemplateRefused("the message is longer than {n} characters", n=cap)
    return text[:cap]  # Aliyun takes 35 characters: keep the start of a name


def _render(part: str, source: str, values: Mapping[str, Any]) -> str:
    try:
        return _bounded_render(part, _compiled(part, source), values)
    except TemplateRefused as exc:
        raise TemplateProblem(part, "{reason}", line=exc.line, reason=exc) from None


def _counted(link: Callable[[str], str]) -> Callable[[str], str]:
    """``link`` for one message: each address made once, at most MAX_LINKS of them."""
    made: dict[str, str] = {}

    def counted(url: str) -> str:
        url = str(url)
        if len(url) > MAX_LINK:
            raise TemplateProblem("link", "a link() address has at most {n} characters", n=MAX_LINK)
        if url not in made:
            if len(made) >= MAX_LINKS:
                raise TemplateProblem("link", "at most {n} links in one message", n=MAX_LINKS)
            made[url] = link(url)
        return made[url]

    return counted


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
    values["link"] = _counted(link or (lambda url: str(url)))
    return {part: _render(part, source, values) for part, source in sources.items()}


def sms_content(template: Mapping[str, Any], rendered: Mapping[str, str]) -> str:
    """What the customer's phone shows: 【signature】 and the approved text with its values."""
    params = {k.removeprefix("params."): v for k, v in rendered.items()}
    body = PLACEHOLDER.sub(
        lambda m: params.get(m.group(1) or m.group(2), ""), str(template.get("text") or "")
    )
    return f"【{template.get('sign_name', '')}】{body}"
