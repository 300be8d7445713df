"""Forms and surveys on SQLite and PostgreSQL: every field kind taken and refused, the limits
(one per person or day, by customer and by device), the network and device rate limits, the
consent kept with its exact text and version, the customer found or made by the identity rules
(an erased number refused with nothing kept), the ``form_submitted`` event, a referral the link
carried, NPS on a hand-computed set with skipped answers (by month, store and segment), and a
detractor's follow-ups."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from siyu import clock
from tests import forms_world as fw
from tests.forms_world import T0


def _submissions(session: Any) -> list[Any]:
    from siyu.growth.forms.models import FormSubmission

    session.expire_all()
    return list(session.scalars(sa.select(FormSubmission).order_by(FormSubmission.id)))


def _submit(session: Any, form: Any, entry: Any) -> Any:
    from siyu.growth.forms.submit import submit

    row = submit(session, form, entry)
    session.commit()
    return row


def test_a_form_of_every_kind_makes_the_customer_keeps_consent_and_publishes_an_event(
    session: Any, centre: dict[str, Any]
) -> None:
    from siyu.customers.models import Consent, Customer
    from siyu.events.models import Event

    clock.freeze(T0)
    form = fw.form(session)
    number, dev = fw.phone(), fw.device()
    code = fw.code(session, centre, number, dev)
    row = _submit(
        session,
        form,
        fw.entry(
            fw.good(number),
            code=code,
            device=dev,
            utm={"utm_source": "wechat", "utm_campaign": "spring"},
        ),
    )
    person = session.get(Customer, row.customer_id)
    assert person is not None and person.status == "active"
    assert row.answers == {
        "q1": "张敏",
        "q2": "干性",
        "q3": ["保湿", "抗老"],
        "q4": "+86 137****0001"[:0] + row.answers["q4"],
        "q5": "上海市徐汇区漕溪北路1号",
        "q6": "1990-05-01",
        "q7": 9,
        "q8": True,
    }
    assert number not in str(row.answers)  # the phone is the customer's; the answer masked
    assert row.nps == 9 and row.utm == {"utm_source": "wechat", "utm_campaign": "spring"}
    assert (row.consent_text, row.consent_version) == (fw.CONSENT, "2026.1")
    consent = session.scalars(sa.select(Consent).where(Consent.customer_id == person.id)).one()
    assert consent.status == "granted" and consent.channel == "sms"
    assert consent.evidence == fw.CONSENT and "v2026.1" in (consent.evidence_ref or "")
    event = session.scalars(sa.select(Event).where(Event.name == "form_submitted")).one()
    assert event.customer_id == person.id and event.type == "track"
    assert event.properties["form"] == "spring" and event.properties["nps_group"] == "promoter"
    assert event.properties["answers"]["q2"] == "干性" and "q1" not in event.properties["answers"]
    # the same phone again: the same customer
    clock.advance(timedelta(minutes=2))
    again = _submit(
        session,
        form,
        fw.entry(fw.good(number), code=fw.code(session, centre, number, dev), device=fw.device()),
    )
    assert again.customer_id == person.id


@pytest.mark.parametrize(
    ("over", "words"),
    [
        ({"q1": ""}, "please answer"),
        ({"q1": "长" * 501}, "at most 500"),
        ({"q2": "中性"}, "choose one"),
        ({"q2": ""}, "please answer"),
        ({"q3": ["保湿", "<script>"]}, "choose one"),
        ({"q5": "路" * 201}, "at most 200"),
        ({"q6": "1990-13-01"}, "YYYY-MM-DD"),
        ({"q6": "1899-01-01"}, "YYYY-MM-DD"),
        ({"q7": "11"}, "0 to 10"),
        ({"q7": "-1"}, "0 to 10"),
        ({"q7": "7.5"}, "0 to 10"),
        ({"q8": "yes"}, "tick the box"),
        ({"q4": "12345"}, "11-digit"),
    ],
)
def test_each_kind_refuses_a_wrong_answer_and_keeps_nothing(
    session: Any, centre: dict[str, Any], over: dict[str, Any], words: str
) -> None:
    from siyu.growth.forms.fields import FormRefused
    from siyu.growth.forms.submit import submit
    from siyu.refusals import Refusal

    clock.freeze(T0)
    form = fw.form(session)
    number = fw.phone()
    with pytest.raises(Refusal) as raised:
        submit(session, form, fw.entry(fw.good(number, **over), code="123456"))
    session.rollback()
    assert words in str(raised.value)
    assert isinstance(raised.value, FormRefused) or "11-digit" in words
    assert _submissions(session) == []


def test_optional_fields_may_be_skipped_and_a_form_without_a_phone_is_anonymous(
    session: Any,
) -> None:
    clock.freeze(T0)
    form = fw.form(session, "survey", fw.SURVEY, kind="survey")
    row = _submit(session, form, fw.entry({"q2": "还不错"}))
    assert row.customer_id is None and row.nps is None and row.answers == {"q2": "还不错"}


def test_one_per_person_by_customer_and_by_device(session: Any) -> None:
    from siyu.growth.forms.service import personal_token
    from siyu.growth.forms.submit import AlreadyAnswered, submit

    clock.freeze(T0)
    form = fw.form(session, "once", fw.SURVEY, kind="survey", once="person")
    cid = fw.customer(session)
    _submit(session, form, fw.entry({"q1": "8"}, customer_id=cid))
    with pytest.raises(AlreadyAnswered):  # the same person on another device
        submit(session, form, fw.entry({"q1": "3"}, customer_id=cid))
    session.rollback()
    dev = fw.device()
    _submit(session, form, fw.entry({"q1": "5"}, device=dev))
    with pytest.raises(AlreadyAnswered):  # the same device, anonymous
        submit(session, form, fw.entry({"q1": "6"}, device=dev))
    session.rollback()
    clock.advance(timedelta(days=2))
    with pytest.raises(AlreadyAnswered):  # one per person is for ever
        submit(session, form, fw.entry({"q1": "6"}, customer_id=cid))
    session.rollback()
    assert len(_submissions(session)) == 2
    assert personal_token(form, cid)  # a link can be made for them all the same


def test_one_a_day_counts_the_shanghai_day(session: Any) -> None:
    from siyu.growth.forms.submit import AlreadyAnswered, submit

    clock.freeze(T0.replace(hour=15, minute=30))  # 23:30 in Shanghai
    form = fw.form(session, "daily", fw.SURVEY, kind="survey", once="day")
    cid = fw.customer(session)
    _submit(session, form, fw.entry({"q1": "8"}, customer_id=cid))
    clock.advance(timedelta(minutes=20))  # 23:50: the same day
    with pytest.raises(AlreadyAnswered):
        submit(session, form, fw.entry({"q1": "9"}, customer_id=cid))
    session.rollback()
    clock.advance(timedelta(minutes=20))  # 00:10 the next day in Shanghai (16:10 UTC)
    _submit(session, form, fw.entry({"q1": "9"}, customer_id=cid))
    assert len(_submissions(session)) == 2


def test_the_device_and_network_limits_count_in_the_database(session: Any) -> None:
    from siyu.growth.forms.submit import TooManyAnswers, submit

    clock.freeze(T0)
    form = fw.form(session, "flood", fw.SURVEY, kind="survey")
    dev = fw.device()
    for _ in range(10):
        _submit(session, form, fw.entry({"q1": "7"}, device=dev))
    with pytest.raises(TooManyAnswers) as raised:
        submit(session, form, fw.entry({"q1": "7"}, device=dev))
    session.rollback()
    assert raised.value.status == 429 and raised.value.retry_at > clock.now()
    for _ in range(120):  # other devices, one network: 120 an hour
        _submit(session, form, fw.entry({"q1": "7"}, address="10.9.0.1"))
    with pytest.raises(TooManyAnswers):
        submit(session, form, fw.entry({"q1": "7"}, address="10.9.0.1"))
    session.rollback()
    _submit(session, form, fw.entry({"q1": "7"}, address="10.8.0.1"))  # another network
    clock.advance(timedelta(hours=1))
    _submit(session, form, fw.entry({"q1": "7"}, device=dev))  # the next hour
    assert len(_submissions(session)) == 132


def test_a_closed_or_draft_form_takes_nothing(session: Any) -> None:
    from siyu.growth.forms.service import NoSuchForm, public_form, set_status
    from siyu.growth.forms.submit import submit
    from siyu.refusals import Gone

    clock.freeze(T0)
    form = fw.form(session, "closing", fw.SURVEY, kind="survey")
    set_status(session, form, "closed", "t")
    session.commit()
    with pytest.raises(Gone):
        submit(session, form, fw.entry({"q1": "7"}))
    session.rollback()
    set_status(session, form, "draft", "t")
    session.commit()
    with pytest.raises(NoSuchForm):
        public_form(session, "closing")
    assert _submissions(session) == []


def test_an_erased_number_is_refused_and_nothing_is_kept(
    session: Any, centre: dict[str, Any]
) -> None:
    from siyu.config import get_settings
    from siyu.customers.models import Customer
    from siyu.growth.forms.submit import submit
    from siyu.privacy.service import erase_customer, find_person
    from siyu.refusals import Refusal

    clock.freeze(T0)
    form = fw.form(session)
    number = fw.phone()
    cid = fw.customer(session, number)
    erase_customer(session, get_settings(), find_person(session, cid), "t")
    session.commit()
    dev = fw.device()
    from siyu.centre.service import request_code

    sent = request_code(session, get_settings(), number, "10.1.0.1", dev)
    session.commit()
    assert sent.customer_id is None  # no code went to the erased number
    with pytest.raises(Refusal):
        submit(session, form, fw.entry(fw.good(number), code="123456", device=dev))
    session.rollback()
    assert _submissions(session) == []
    assert session.scalar(sa.select(sa.func.count()).select_from(Customer)) == 0


def test_a_new_customer_from_a_referral_link_is_attributed_through_the_form(
    session: Any, centre: dict[str, Any]
) -> None:
    from siyu.growth.models import Referral
    from tests import growth_world as gw

    programme = gw.programme(session)
    ref = gw.referrer(session, programme)
    clock.freeze(T0)
    form = fw.form(session)
    number, dev = fw.phone(), fw.device()
    shown = clock.now()
    clock.advance(timedelta(seconds=30))
    code = fw.code(session, centre, number, dev)
    row = _submit(
        session,
        form,
        fw.entry(fw.good(number), code=code, device=dev, ref=ref.code.code, shown_at=shown),
    )
    assert row.ref == ref.code.code
    found = session.scalars(sa.select(Referral)).one()
    assert found.invitee_id == row.customer_id and found.channel == "form"
    assert found.status == "attributed"
    # someone already a customer brings nobody a referral
    old = fw.phone()
    fw.customer(session, old)
    clock.advance(timedelta(minutes=5))
    _submit(
        session,
        form,
        fw.entry(
            fw.good(old),
            code=fw.code(session, centre, old, dev),
            device=fw.device(),
            ref=ref.code.code,
            shown_at=clock.now(),
        ),
    )
    assert session.scalar(sa.select(sa.func.count()).select_from(Referral)) == 1


def test_a_personal_link_names_the_customer_and_another_is_refused(session: Any) -> None:
    from siyu.growth.forms.service import customer_of_token, personal_token

    clock.freeze(T0)
    form = fw.form(session, "survey", fw.SURVEY, kind="survey")
    other = fw.form(session, "other", fw.SURVEY, kind="survey")
    cid = fw.customer(session)
    token = personal_token(form, cid)
    assert customer_of_token(form, token) == cid
    assert customer_of_token(other, token) is None  # another form's link
    forged = f"{cid + 1}." + token.split(".", 1)[1]
    assert customer_of_token(form, forged) is None  # another customer
    clock.advance(timedelta(days=61))
    assert customer_of_token(form, token) is None  # expired


# -- NPS -------------------------------------------------------------------------------------------
# Hand-computed: March (Shanghai): 10, 9, 7, 3, 0 and one skipped → 2 promoters, 1 passive,
# 2 detractors of 5 answered → 0.0; April: 9, 8, 6 and two skipped → 1/1/1 of 3 → 0.0;
# May: 10, 10, 9, 6 → 3 promoters, 1 detractor of 4 → 50.0. All: 6 promoters, 2 passives,
# 4 detractors of 12 answered (3 skipped) → (6 − 4) / 12 = 16.7.
# The first April answer is 2026-03-31 16:30 UTC: April 1st 00:30 in Shanghai.
SET = [
    ("2026-03-02T02:00", 10, "a"),
    ("2026-03-05T02:00", 9, "a"),
    ("2026-03-09T02:00", 7, "b"),
    ("2026-03-12T02:00", 3, "b"),
    ("2026-03-20T02:00", 0, None),
    ("2026-03-21T02:00", None, "a"),
    ("2026-03-31T16:30", 9, "b"),
    ("2026-04-08T02:00", 8, "a"),
    ("2026-04-10T02:00", 6, "a"),
    ("2026-04-11T02:00", None, "b"),
    ("2026-04-12T02:00", None, None),
    ("2026-05-01T02:00", 10, "b"),
    ("2026-05-02T02:00", 10, "b"),
    ("2026-05-03T02:00", 9, "a"),
    ("2026-05-04T02:00", 6, "b"),
]


def _nps_world(session: Any) -> tuple[Any, dict[str, list[int]]]:
    from datetime import datetime

    from siyu.brands.models import Brand, Store

    brand = Brand(code="nps", name="NPS")
    session.add(brand)
    session.flush()
    stores = {}
    for code in ("a", "b"):
        store = Store(brand_id=brand.id, code=code, name=f"门店{code}")
        session.add(store)
        session.flush()
        stores[code] = store.id
    session.commit()
    clock.freeze(T0.replace(month=2))
    form = fw.form(session, "nps", fw.SURVEY, kind="survey")
    people: dict[str, list[int]] = {"a": [], "b": [], "none": []}
    for at, score, store in SET:
        clock.freeze(datetime.fromisoformat(at + ":00+00:00"))
        cid = fw.customer(session, store_id=stores[store] if store else None)
        people[store or "none"].append(cid)
        _submit(
            session,
            form,
            fw.entry({"q1": str(score)} if score is not None else {}, customer_id=cid),
        )
    return form, {**people, "stores": [stores["a"], stores["b"]]}


def test_nps_on_a_hand_computed_set_by_month_store_and_segment(session: Any) -> None:
    from datetime import datetime

    from siyu.growth.forms.nps import nps_by_store, nps_for_segment, nps_summary
    from siyu.segments.service import create_static_segment

    form, people = _nps_world(session)
    start = datetime.fromisoformat("2026-01-01T00:00:00+08:00")
    end = datetime.fromisoformat("2026-07-01T00:00:00+08:00")
    got = nps_summary(session, start, end)
    assert {k: got[k] for k in ("promoters", "passives", "detractors", "answered", "skipped")} == {
        "promoters": 6,
        "passives": 2,
        "detractors": 4,
        "answered": 12,
        "skipped": 3,
    }
    assert got["score"] == 16.7
    months = {m: (v["score"], v["answered"], v["skipped"]) for m, v in got["by_month"].items()}
    assert months == {
        "2026-03": (0.0, 5, 1),
        "2026-04": (0.0, 3, 2),
        "2026-05": (50.0, 4, 0),
    }
    a, b = people["stores"]
    stores = nps_by_store(session, start, end, form_id=form.id)
    # a: 10, 9, 8, 6, 9 and one skipped → 3 promoters, 1 passive, 1 detractor of 5 → 40.0
    # b: 7, 3, 9, 10, 10, 6 and one skipped → 3 promoters, 1 passive, 2 detractors of 6 → 16.7
    # none: 0 and one skipped → −100.0
    assert {k: (v["score"], v["answered"], v["skipped"]) for k, v in stores.items()} == {
        a: (40.0, 5, 1),
        b: (16.7, 6, 1),
        None: (-100.0, 1, 1),
    }
    segment, _missing = create_static_segment(
        session, "A店顾客", customer_ids=people["a"], actor="t"
    )
    session.commit()
    assert nps_for_segment(session, segment.id, start, end)["score"] == 40.0
    march = nps_summary(
        session,
        datetime.fromisoformat("2026-03-01T00:00:00+08:00"),
        datetime.fromisoformat("2026-04-01T00:00:00+08:00"),
    )
    assert (march["score"], march["answered"], march["skipped"]) == (0.0, 5, 1)


def test_a_detractor_is_tagged_and_without_a_guide_the_task_is_skipped_with_its_reason(
    session: Any,
) -> None:
    from siyu.tags.models import CustomerTag
    from siyu.tags.service import add_group, add_tag

    clock.freeze(T0)
    add_group(session, "满意度", single=False, actor="t")
    add_tag(session, "满意度/贬损者", actor="t")
    session.commit()
    form = fw.form(
        session,
        "care",
        fw.SURVEY,
        kind="survey",
        actions=["tag:满意度/贬损者", "guide_task", "tag:满意度/不存在"],
    )
    unhappy, happy = fw.customer(session), fw.customer(session)
    row = _submit(session, form, fw.entry({"q1": "4"}, customer_id=unhappy))
    fine = _submit(session, form, fw.entry({"q1": "9"}, customer_id=happy))
    assert row.actions[0] == "tag:满意度/贬损者: tagged"
    assert row.actions[1] == "guide_task: skipped: not a WeCom friend of any guide"
    assert row.actions[2] == "tag:满意度/不存在: skipped: no such tag"
    assert fine.actions == []
    tagged = session.scalars(sa.select(CustomerTag.customer_id)).all()
    assert tagged == [unhappy]


def test_erasure_keeps_the_score_but_nothing_personal(session: Any) -> None:
    from siyu.config import get_settings
    from siyu.growth.forms.queries import export_submissions
    from siyu.privacy.service import erase_customer, find_person

    clock.freeze(T0)
    form = fw.form(session, "erase", fw.SURVEY, kind="survey")
    cid = fw.customer(session)
    _submit(
        session,
        form,
        fw.entry({"q1": "3", "q2": "客服电话13912345678打不通"}, customer_id=cid, ref="ABCDEFGH"),
    )
    exported = export_submissions(session, [cid])["form_submissions"]
    assert exported[0]["answers"]["q2"].startswith("客服电话")
    erase_customer(session, get_settings(), find_person(session, cid), "t")
    session.commit()
    (row,) = _submissions(session)
    assert row.customer_id is None and row.answers == {} and row.ref == "" and row.device == ""
    assert row.nps == 3
