"""The regular expressions operators write for keyword rules (``match=regex``), run so that
no pattern can stall the reply worker.

Python's ``re`` backtracks without limit: ``(a|aa)+$`` against a customer's message of a
thousand a's would hold the worker for longer than the universe has existed, and every
customer behind that message would wait. Patterns therefore run on the ``regex`` package
(the syntax of ``re``: groups, alternation, classes, look-arounds, inline flags), which stops
a search after ``MATCH_SECONDS``; a search that runs out of time counts as no match.

``regex`` writes a counted repeat out in full when it compiles (``(?:a{1000}){1000}`` is a
million steps and hundreds of megabytes), so the counts a pattern holds may multiply to at
most ``MAX_REPEATS``; and a rule is tried at save on test messages built from its own
characters, so a pattern that is slow on them is refused before a customer meets it.
"""

from __future__ import annotations

import math
from functools import lru_cache

import regex

from siyu import runtime
from siyu.refusals import Refusal

MATCH_SECONDS = 0.1  # what one rule may cost one customer's message
PROBE_SECONDS = 0.05  # what one test message may cost at save
MAX_REPEATS = 10_000  # the counts of {m,n} multiplied: \d{4}-\d{2}-\d{2} is 16
PROBE_LENGTH = 2000  # as long as a customer's message is matched on
_COUNT = regex.compile(r"\{([0-9]*)(?:,([0-9]*))?\}")
_OWN = regex.compile(r"[\p{L}\p{N}]")  # letters (Chinese too) and digits a pattern names
_ALWAYS = "a1 中"  # characters any pattern's classes may take (\w, \d, \s, .)


class PatternRefused(Refusal):
    """A pattern that cannot be a keyword rule; the message says why."""


def check(pattern: str) -> regex.Pattern[str]:
    """The pattern compiled, once it is known to compile cheaply and search quickly on test
    messages; raises ``PatternRefused`` otherwise."""
    compiled = _compile(pattern)
    for probe in _probes(pattern):
        try:
            compiled.search(probe, timeout=PROBE_SECONDS)
        except TimeoutError:
            raise PatternRefused(
                "too slow: a test message of {n} characters takes it over {ms} ms",
                n=len(probe),
                ms=int(PROBE_SECONDS * 1000),
            ) from None
    return compiled


def search(pattern: str, text: str) -> bool:
    """Whether the pattern is found in ``text``. Raises ``TimeoutError`` past ``MATCH_SECONDS``
    and ``PatternRefused`` for a pattern stored before these checks that fails them."""
    return compiled(pattern).search(text, timeout=MATCH_SECONDS) is not None


@lru_cache(maxsize=512)
def compiled(pattern: str) -> regex.Pattern[str]:
    return _compile(pattern)


runtime.forgets("wecom.keyword_patterns.compiled", compiled.cache_clear)


def _compile(pattern: str) -> regex.Pattern[str]:
    counts = [int(n) for m in _COUNT.finditer(pattern) for n in m.groups() if n]
    product = math.prod(max(n, 1) for n in counts)
    if product > MAX_REPEATS:
        raise PatternRefused(
            "its repeat counts multiply to {product}, more than {n}",
            product=product,
            n=MAX_REPEATS,
        )
    try:
        return regex.compile(pattern, regex.VERSION0)
    except (regex.error, OverflowError, ValueError) as exc:
        raise PatternRefused("not a regular expression ({reason})", reason=exc) from None


def _probes(pattern: str) -> list[str]:
    """Messages that make a backtracking pattern show itself: long runs of one character the
    pattern could take, and its own characters repeated, each ending in one it may refuse."""
    own = list(dict.fromkeys(_OWN.findall(pattern)))[:16]
    runs = [c * PROBE_LENGTH + "!" for c in dict.fromkeys([*own, *_ALWAYS])]
    word = "".join(own)
    if len(word) > 1:
        runs.append((word * (PROBE_LENGTH // len(word) + 1))[:PROBE_LENGTH] + "!")
    return runs
