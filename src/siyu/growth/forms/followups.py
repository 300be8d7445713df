"""What a survey does when someone answers as a detractor (0–6): the actions configured on
the form, each done or skipped with its reason and written on the submission, so an operator
sees what happened to every unhappy customer.

- ``tag:<group/tag>``: the tag is put on the customer (the tags capability's hand-set source,
  so an operator can take it off).
- ``guide_task``: a guide task (导购任务) reaches the customer through a campaign on the
  ``wecom_app`` channel, which needs a connected WeCom corp and a campaign to carry it; a
  single-customer task is not something reach makes by itself, so the action is recorded as
  skipped with that reason rather than failing the answer (DESIGN §12: a WeCom 1:1 touch is a
  guide task, never an automatic message)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.growth.forms.models import Form
from siyu.refusals import Refusal
from siyu.tags.service import assign, find_tag

GUIDE_TASK_SKIPPED = "skipped: guide tasks go out through a wecom_app campaign; none was made"


def follow_up(session: Session, form: Form, customer_id: int) -> list[str]:
    """Run the form's detractor actions for one customer; returns what each did."""
    done: list[str] = []
    for action in form.actions:
        if action.startswith("tag:"):
            path = action[4:]
            try:
                with session.begin_nested():
                    tag = find_tag(session, path)
                    assign(session, tag, [customer_id], actor=f"form:{form.slug}")
                done.append(f"{action}: tagged")
            except Refusal:
                done.append(f"{action}: skipped: no such tag")
        elif action == "guide_task":
            done.append(f"{action}: {GUIDE_TASK_SKIPPED}")
    return done
