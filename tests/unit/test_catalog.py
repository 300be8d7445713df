"""The Chinese catalogue (``src/siyu/locale/zh_CN/LC_MESSAGES/siyu.po``) is whole.

``pybabel extract`` over the code and the console's templates (``babel.cfg``) finds no English
message id the catalogue lacks, and the catalogue has no entry untranslated, fuzzy or obsolete;
``msgfmt -c`` finds every translation keeping its message's placeholders. ``babel.cfg`` names
every refusal class as a keyword, and a refusal is raised with a literal template (an f-string
would make each message its own id), so every refusal the services raise has its Chinese.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_python
from babel.messages.frontend import CommandLineInterface, parse_mapping_cfg
from babel.messages.pofile import read_po

from siyu.messages import keyword_options, refusal_keywords

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "siyu"
PO = SRC / "locale" / "zh_CN" / "LC_MESSAGES" / "siyu.po"
CFG = ROOT / "babel.cfg"
# Refusals built from a template held elsewhere: forwarded by a refusal's own constructor or a
# helper whose callers are extracted, or stored with a run (the import page says it later).
FORWARDED = {
    ("ingest/views.py", "Refusal"),
    ("ingest/service.py", "Refusal"),
    ("reach/sending/templates.py", "TemplateRefused"),
    ("segments/compiler.py", "RuleError"),
    ("segments/rules.py", "Refusal"),
    ("segments/text.py", "Refusal"),
}


def _key(context: str | None, msgid: object) -> str:
    return f"{context} | {msgid}" if context else str(msgid)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    pot = tmp_path_factory.mktemp("catalog") / "siyu.pot"
    argv = ["pybabel", "-q", "extract", "-F", str(CFG), *keyword_options(), "--no-location"]
    argv += ["-o", str(pot), "."]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)
        CommandLineInterface().run(argv)
    with pot.open("rb") as f:
        return read_po(f)


@pytest.fixture(scope="module")
def committed() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f, locale="zh_CN")


def test_every_message_in_the_code_is_in_the_catalogue(
    extracted: Catalog, committed: Catalog
) -> None:
    assert len(extracted) > 1000, "the extraction should see the console's and services' words"
    missing = [
        _key(m.context, m.id) for m in extracted if m.id and committed.get(m.id, m.context) is None
    ]
    assert not missing, "not in siyu.po (make messages, then translate):\n" + "\n".join(missing)


def test_the_catalogue_has_nothing_untranslated_fuzzy_or_obsolete(
    extracted: Catalog, committed: Catalog
) -> None:
    untranslated = [_key(m.context, m.id) for m in committed if m.id and not m.string]
    fuzzy = [_key(m.context, m.id) for m in committed if m.id and m.fuzzy]
    obsolete = [_key(m.context, m.id) for m in committed.obsolete.values()] + [
        _key(m.context, m.id) for m in committed if m.id and extracted.get(m.id, m.context) is None
    ]
    assert not untranslated, "no Chinese yet:\n" + "\n".join(untranslated)
    assert not fuzzy, "fuzzy (check the Chinese, then drop the flag):\n" + "\n".join(fuzzy)
    assert not obsolete, "no longer in the code (make messages drops them):\n" + "\n".join(obsolete)


def test_msgfmt_finds_every_placeholder_kept() -> None:
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "msgfmt is missing: `make gettext` installs Debian's gettext"
    checked = subprocess.run(
        [msgfmt, "--check", "--output-file=/dev/null", str(PO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_a_translation_that_drops_a_placeholder_is_caught(tmp_path: Path) -> None:
    """What the msgfmt check above rests on: a Chinese text without the English one's value."""
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "msgfmt is missing: `make gettext` installs Debian's gettext"
    broken = tmp_path / "broken.po"
    broken.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#, python-brace-format\nmsgid "{n} customers"\nmsgstr "客户"\n',
        encoding="utf-8",
    )
    checked = subprocess.run(
        [msgfmt, "--check", "--output-file=/dev/null", str(broken)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode != 0


def _keywords() -> dict[str, object]:
    with CFG.open(encoding="utf-8") as f:
        _methods, options = parse_mapping_cfg(f, str(CFG))
    found: dict[str, object] = {
        k: None if at == 1 else (at,) for k, at in refusal_keywords().items()
    }
    return {**found, **dict(options["src/siyu/**.py"]["keywords"])}


def test_every_refusal_class_is_a_keyword(tmp_path: Path) -> None:
    """A refusal class defined anywhere, however far from Refusal, is extracted with no list
    to update; one whose first argument says where takes its template second."""
    assert {"TagError", "NoSuchSegment", "WecomRefused"} <= set(refusal_keywords())
    assert refusal_keywords()["RuleError"] == 2 and refusal_keywords()["TemplateProblem"] == 2
    (tmp_path / "a.py").write_text(
        "class One(Refusal): pass\nclass Two(One): pass\nclass At(RuleError): pass\n"
        "class RuleError(Refusal): pass\n",
        encoding="utf-8",
    )
    assert refusal_keywords(tmp_path) == {"Refusal": 1, "One": 1, "Two": 1, "RuleError": 2, "At": 2}


def test_every_refusal_is_built_with_a_literal_template() -> None:
    keywords = {k: v for k, v in _keywords().items() if k not in ("N_", "NP_")}
    seen, not_literal = 0, []
    for path in sorted(SRC.rglob("*.py")):
        where = str(path.relative_to(SRC))
        with path.open("rb") as f:
            for lineno, func, messages, _comments in extract_python(f, keywords, [], {}):
                at = (keywords[func] or (1,))[0]
                assert isinstance(at, int)
                args = messages if isinstance(messages, tuple) else (messages,)
                seen += 1
                if (len(args) < at or args[at - 1] is None) and (where, func) not in FORWARDED:
                    not_literal.append(f"{where}:{lineno} {func}")
    assert seen > 300, "the extraction should see the services' refusals"
    assert not not_literal, f"raise with a literal template and named values: {not_literal}"
