"""What a survey does when someone answers as a detractor (0–6): the actions configured on
the form, each done or skipped with its reason and written on the submission, so an operator
sees what happened to every unhappy customer.

- ``tag:<group/tag>``: the tag is put on the customer (the tags capability's hand-set source,
  so an operator can take it off).
- ``guide_task``: a guide task (导购任务) to the customer's guide — the staff member whose WeCom
  friend they are — through the corp's app: who answered, the score and the survey, to call
  them back in person (DESIGN §12: a WeCom 1:1 touch is a guide task, never an automatic
  message). It is a transactional ``wecom_app`` message of the send ledger, queued in the
  answer's transaction under a key of the submission (never twice) and held until the quiet
  hours end; the guide gets the round's tasks as one list. A customer who is nobody's WeCom friend is recorded as skipped with that
  reason rather than failing the answer."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from siyu import clock
from siyu.config import get_settings
from siyu.growth.forms.models import Form, FormSubmission
from siyu.reach.sending.ledger import LedgerError
from siyu.reach.sending.policy import wecom_address
from siyu.reach.sending.templates import TemplateProblem
from siyu.reach.sending.transactional import send_transactional
from siyu.refusals import Refusal
from siyu.tags.service import assign, find_tag

TASK_HOURS = 72  # a call-back asked for later than this is no longer a quick answer
NOT_A_FRIEND = "skipped: not a WeCom friend of any guide"
TEMPLATE_SIGNS = re.compile(r"[{}%#]")  # the title goes into the task's template as plain text


def guide_task(session: Session, form: Form, row: FormSubmission, customer_id: int) -> str:
    """Queue the call-back task for the detractor's guide; returns what happened."""
    if wecom_address(session, customer_id, form.brand_id) is None:
        return NOT_A_FRIEND
    title = TEMPLATE_SIGNS.sub("", form.title)[:60]
    settings = get_settings()
    # the customer's number and the answer's make each line name whom to call, and each
    # request unique (WeCom drops a repeated body within its duplicate check's hours)
    template: dict[str, object] = {
        "text": f"{{{{ name }}}}（客户 #{customer_id}）在「{title}」打了 {row.nps} 分，"
        f"请尽快联系了解原因（回答 #{row.id}）",
        "fallbacks": {"name": "一位客户"},
    }
    if form.brand_id is not None:  # only a guide of the form's brand is asked
        template["brand_id"] = form.brand_id
    try:
        with session.begin_nested():
            send_transactional(
                session,
                key=f"form:{form.id}:{row.id}:guide_task",
                customer_id=customer_id,
                channel="wecom_app",
                template=template,
                expires_minutes=TASK_HOURS * 60,
                actor=f"form:{form.slug}"[:100],
                not_before=settings.quiet_hours.until(clock.now(), settings.tz),
            )
    except (LedgerError, TemplateProblem) as exc:
        return f"skipped: {exc}"[:200]
    return "queued for the guide"


def follow_up(session: Session, form: Form, row: FormSubmission, customer_id: int) -> list[str]:
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
            done.append(f"{action}: {guide_task(session, form, row, customer_id)}")
    return done
