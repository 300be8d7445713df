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

from siyu.sandbox.checking import Compiled, compile_template, render
from siyu.sandbox.environment import HTML, TEXT, BoundedSandbox
from siyu.sandbox.limits import (
    INT_BITS,
    MAX_NODES,
    MAX_RANGE,
    MAX_SOURCE,
    MAX_STEPS,
    RENDER_SECONDS,
    VALUE_MAX,
    WORK_MAX,
    TemplateRefused,
    weight,
)

__all__ = [
    "HTML",
    "INT_BITS",
    "MAX_NODES",
    "MAX_RANGE",
    "MAX_SOURCE",
    "MAX_STEPS",
    "RENDER_SECONDS",
    "TEXT",
    "VALUE_MAX",
    "WORK_MAX",
    "BoundedSandbox",
    "Compiled",
    "TemplateRefused",
    "compile_template",
    "render",
    "weight",
]
