"""The whole-console link walk: log in, follow every same-origin link reachable from the
navigation (pages, drill-downs, exports), and collect every failure a visitor would meet: an
answer of 4xx/5xx (to the page or to anything it loads), a JavaScript error, a console error,
a Content-Security-Policy violation, a page wider than the 375 px phone it is shown on. The
walk goes round in Chinese, then again in English.

Links are collapsed to patterns (numeric path segments become ``{n}``, a rule in a query
string becomes the fields it names, other values are dropped unless they are a short word),
and only a few links of each pattern are followed, so two thousand customer pages cost two
visits. Used by tests/e2e/test_link_walk.py, and by hand against a running ``make run``::

    python -m tests.e2e.linkwalk http://127.0.0.1:8000 admin siyu-demo-2026 [-v]
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.e2e.browsing import browser_context, log_in

# Never followed: logging out would end the walk (it is a form anyway); the language links are
# taken on purpose, between the two rounds.
SKIPPED = (re.compile(r"^/logout"), re.compile(r"^/lang/"))
DOWNLOADS = re.compile(r"\.(csv|png|json|xlsx|zip)$")
FREE_TEXT = {"title", "name", "q"}  # query values that are words someone typed, not choices
PHONE = {"width": 375, "height": 812}
OVERFLOW = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
WIDEST = """() => {
  const w = document.documentElement.clientWidth; let worst = null, right = w;
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect().right;
    if (r > right) { right = r; worst = el; }
  }
  if (!worst) return '';
  const cls = typeof worst.className === 'string' && worst.className ? '.' + worst.className.split(' ').join('.') : '';
  return worst.tagName.toLowerCase() + (worst.id ? '#' + worst.id : '') + cls;
}"""


@dataclass
class Walk:
    visited: dict[str, list[str]] = field(default_factory=dict)  # pattern -> URLs visited
    problems: list[str] = field(default_factory=list)
    at: str = ""  # the URL being checked, to say where a problem was met
    loading: set[Any] = field(default_factory=set)  # the page's requests not answered yet

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.at}: {text}")

    def patterns(self) -> list[str]:
        return sorted(self.visited)


def pattern(url: str) -> str:
    """What kind of page a link leads to, e.g. ``/customers/{n}`` or
    ``/dashboard/customers?brand&rule=first_seen,source&title``."""
    parts = urlsplit(url)
    path = re.sub(r"/\d+(?=/|$|\.)", "/{n}", parts.path)
    keys = []
    for key, value in sorted(parse_qsl(parts.query, keep_blank_values=True)):
        shape = "" if key in FREE_TEXT else _shape(value)
        keys.append(f"{key}={shape}" if shape else key)
    return path + ("?" + "&".join(keys) if keys else "")


def _shape(value: str) -> str:
    """A query value as part of the pattern: a rule by the fields it names, a short word as
    itself (a tab, a status), numbers and dates left out."""
    if value[:1] and value[:1] in "{[":
        try:
            rule = json.loads(value)
        except ValueError:
            return "*"
        return ",".join(sorted(set(re.findall(r'"field": "([\w.]+)"', json.dumps(rule)))))
    if re.fullmatch(r"[a-z_]{1,20}", value):
        return value
    return ""


def walk_console(
    base: str, username: str, password: str, *, depth: int = 3, per_pattern: int = 2
) -> Walk:
    """Log in and walk the console from the customer list, in Chinese and then in English
    (one page of each pattern: the second round looks for words that do not fit)."""
    found = Walk()
    with browser_context(base, viewport=PHONE) as context:
        page = context.new_page()
        _watch(page, found, base)
        found.at = "/login"
        log_in(page, username, password)
        _walk(page, context, found, "[zh] ", depth=depth, per_pattern=per_pattern)
        found.at = "/lang/en"
        page.goto("/lang/en?next=/customers")
        _walk(page, context, found, "[en] ", depth=depth, per_pattern=1)
    return found


def _watch(page: Any, found: Walk, base: str) -> None:
    origin = urlsplit(base).netloc
    page.on("request", lambda r: found.loading.add(r))
    page.on("requestfinished", lambda r: found.loading.discard(r))
    page.on("requestfailed", lambda r: found.loading.discard(r))
    page.on("pageerror", lambda exc: found.problem(f"JavaScript error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            found.problem(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            found.problem(f"{r.status} from {r.url}")
            if r.status >= 400 and urlsplit(r.url).netloc == origin
            else None
        ),
    )


def _walk(
    page: Any, context: Any, found: Walk, label: str, *, depth: int, per_pattern: int
) -> None:
    """Breadth first from the customer list, up to ``depth`` links away, at most
    ``per_pattern`` links of a pattern."""
    origin = urlsplit(page.url).netloc
    queue: deque[tuple[str, int]] = deque([("/customers", 0)])
    seen = {"/customers"}
    taken: dict[str, int] = {}  # pattern -> links queued this round
    while queue:
        url, level = queue.popleft()
        found.visited.setdefault(pattern(url), [])
        if url not in found.visited[pattern(url)]:
            found.visited[pattern(url)].append(url)
        found.at = label + unquote(url)
        if DOWNLOADS.search(urlsplit(url).path):
            _fetch(context, found, url)
            continue
        try:
            response = page.goto(url, wait_until="load")
        except Exception as exc:  # an export without a telling name: a download, not a page
            if "Download is starting" not in str(exc):
                raise
            _fetch(context, found, url)
            continue
        if response is None or response.status >= 400:
            continue  # the response listener has said so
        if urlsplit(page.url).path.startswith("/login"):
            found.problem("sent to the login page: the walk's session ended")
            return
        _settle(page, found)
        if (wide := page.evaluate(OVERFLOW)) > 0:
            where = page.evaluate(WIDEST)
            found.problem(f"{wide}px wider than a {PHONE['width']}px phone (widest: {where})")
        for violation in page.evaluate("window.__csp || []"):
            found.problem(f"CSP violation: {violation}")
        if level >= depth:
            continue
        for href in page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)"):
            parts = urlsplit(href)
            if parts.netloc != origin or parts.scheme not in ("http", "https"):
                continue
            link = parts.path + (f"?{parts.query}" if parts.query else "")
            if link in seen or any(s.search(link) for s in SKIPPED):
                continue
            seen.add(link)
            kind = pattern(link)
            if taken.get(kind, 0) >= per_pattern:
                continue
            taken[kind] = taken.get(kind, 0) + 1
            queue.append((link, level + 1))


def _fetch(context: Any, found: Walk, url: str) -> None:
    """An export (a file, not a page): its answer is checked."""
    answer = context.request.get(url, max_redirects=0)
    if answer.status >= 400:
        found.problem(f"{answer.status} {answer.text()[:200]}")


def _settle(page: Any, found: Walk) -> None:
    """Let charts draw and scripts finish: wait until nothing the page asked for is still
    loading, and nothing new was asked for in the quarter second after (Playwright's
    "networkidle" waits a fixed half second per page). A page polling every few seconds never
    goes quiet for long, so the wait is bounded."""
    deadline = time.monotonic() + 5
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if found.loading:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since >= 0.25:
            return
        page.wait_for_timeout(25)  # Playwright delivers the page's events meanwhile


if __name__ == "__main__":  # pragma: no cover - the walk by hand
    base, user, password = sys.argv[1:4]
    done = walk_console(base, user, password)
    for kind in done.patterns():
        print(f"{len(done.visited[kind]):3d}  {kind}")
        if "-v" in sys.argv:
            print("\n".join(f"       {unquote(u)}" for u in done.visited[kind]))
    print("\n".join(done.problems) or "no problems")
    sys.exit(1 if done.problems else 0)
