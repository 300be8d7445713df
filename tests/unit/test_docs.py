"""Documentation generated from the code must be current, and every command documented."""

from __future__ import annotations

from pathlib import Path

from siyu.docsgen import DOCS, PAGES

ROOT = Path(__file__).resolve().parents[2]


def test_generated_pages_are_current() -> None:
    for name, render in PAGES.items():
        assert (DOCS / name).read_text(encoding="utf-8") == render(), (
            f"docs/{name} is stale: run `python -m siyu.docsgen`"
        )


def test_every_cli_command_is_in_the_user_guide() -> None:
    import typer.main

    from siyu.cli import app

    guide = (DOCS / "user-guide.md").read_text(encoding="utf-8")
    group = typer.main.get_group(app)
    missing = []
    for name, cmd in group.commands.items():
        subs = getattr(cmd, "commands", None)
        for sub in subs or [None]:
            phrase = f"siyu {name}" + (f" {sub}" if sub else "")
            if phrase not in guide:
                missing.append(phrase)
    assert not missing, f"undocumented commands: {missing}"


def test_readme_first_screen_gives_the_two_commands() -> None:
    first_screen = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:40])
    assert "make run" in first_screen and "make test" in first_screen
