"""Masking by value: phones, e-mails, ID-card numbers and addresses are hidden wherever they
sit in event properties (nested, under Chinese keys, inside free text), not only under known
English keys."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from siyu.customers.masking import (
    HIDDEN,
    MAX_DEPTH,
    MAX_PHONE_TRIES,
    key_kind,
    mask_properties,
    mask_text,
    mask_value,
)


def _shown(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def test_the_examples_from_the_field() -> None:
    """What analysts were shown: a phone one level down, a Chinese key, a phone in free text."""
    props = {
        "contact": {"phone": "13933334444", "wechat": "zs_1990"},
        "手机号": "13912345678",
        "备注": "张三 13933334444",
        "sku": "SK-1001",
        "qty": 3,
    }
    out = mask_properties(props)
    assert out["contact"]["phone"] == "139****4444"
    assert out["手机号"] == "139****5678"
    assert out["备注"] == "张三 139****4444"
    assert out["sku"] == "SK-1001" and out["qty"] == 3  # nothing personal: left alone
    assert props["contact"]["phone"] == "13933334444"  # the stored value is not touched


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("电话 139 3333 4444", "139 3333 4444"),
        ("call 139-3333-4444 now", "139-3333-4444"),
        ("名片 139.3333.4444", "139.3333.4444"),
        ("邮箱 13933334444@163.com", "13933334444"),
        ("https://m.example.com/?tel=13933334444&x=1", "13933334444"),
        ("+86 13933334444", "13933334444"),
        ("+8613933334444", "13933334444"),
        ("008613933334444", "13933334444"),
        ("手机：１３９３３３３４４４４", "１３９３３３３４４４４"),
        ("座机 021-62345678", "62345678"),
        ("座机(0755)87654321", "87654321"),
        ("座机 (021) 6234 5678", "6234 5678"),
        ("手机 幺三九三三三三四四四四", "三三三四四四四"),
        ("寄到文三路九十九号三幢五〇二室", "三幢五〇二室"),
        ("邮箱 zhang.san+vip@example.com.cn 谢谢", "zhang.san+vip@example.com.cn"),
        ("身份证11010119900307123X", "11010119900307123X"),
        ("身份证 110101 19900307 1234", "19900307"),
        ("老身份证 110101900307123 号", "110101900307123"),
        ("寄到上海市长宁区长宁路123号5楼501室", "长宁路123号"),
        ("寄到上海市长宁区长宁路123号5楼501室", "501室"),
        ("阳光小区3栋2单元501室", "3栋2单元501"),
        ("北京朝阳建国路88号院", "建国路88号"),
        ("lives at 12 Main Street", "12 Main Street"),
        ("名片 139/3333/4444", "3333/4444"),
        ("电话 139–3333–4444", "3333–4444"),  # en dash, as editors and WeChat write '-'
        ("电话 139—3333—4444", "3333—4444"),  # em dash
        ("电话 139−3333−4444", "3333−4444"),  # minus sign
        ("座机 021–6234–5678", "6234–5678"),
        (
            "1\u200b3\u200b9\u200b3\u200b3\u200b3\u200b3\u200b4\u200b4\u200b4\u200b4",
            "4\u200b4\u200b4\u200b4",
        ),
        ("139\u20603333\ufeff4444", "3333\ufeff4444"),
        ("139\u200c3333\u200d4444", "3333"),
        ("手机 一三九两两两两四四四四", "两两两两四四四四"),
        ("香港 +852 9123 4567", "9123 4567"),
        ("香港 +85291234567", "91234567"),
        ("香港 (+852) 9123 4567", "9123 4567"),
        ("香港 00852 9123 4567", "9123 4567"),
        ("香港 +８５２ ９１２３ ４５６７", "９１２３ ４５６７"),
        ("香港 +852–9123–4567", "9123–4567"),
        ("座机 +86 21 5555 6666", "5555 6666"),
        ("座机 +86 (21) 5555-6666", "5555-6666"),
        ("座机 0086 21 5555 6666", "5555 6666"),
        ("US +1 (415) 555-2671", "555-2671"),
        ("UK 0044 20 7946 0958", "7946 0958"),
        ("台湾 +886 912 345 678", "345 678"),
        ("then digits +852 9123 4567 2026", "9123 4567"),
        ("tel:+85291234567", "91234567"),
        ("5(+852 9123 4567", "9123 4567"),
    ],
)
def test_personal_values_in_free_text_are_hidden(text: str, hidden: str) -> None:
    out = mask_text(text)
    assert hidden not in out, out


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("香港 +852 9123 4567", "香港 +852 ****4567"),
        ("(+852) 9123 4567 找我", "(+852) ****4567 找我"),
        ("+1 (415) 555-2671", "+1 ****2671"),
        ("00852 9123 4567", "00852 ****4567"),
        ("+852 9123 4567 2026", "+852 ****4567 2026"),  # the number, not what follows it
        ("139/3333/4444", "139****4444"),
        ("一三九两两两两四四四四", "139****4444"),
    ],
)
def test_what_a_masked_phone_shows(text: str, shown: str) -> None:
    assert mask_text(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "订单号 2024061512345678901 金额 139.00",  # a long number is not a phone inside it
        "SKU SK-1001 × 3，满199减20",
        "会员等级 gold，积分 12800",
        "上海市长宁区",  # a district alone is not an address to hide
        "2026-06-18 10:00:00",
        "一二三四五六，三三两两，九九八十一",
        # what international numbers and the new separators must not catch
        "2026-01-01 12:00:00",
        "2026-01-01T08:00:00+08:00",
        "2026/01/01 12:00",
        "2026—01—01",
        "营业 13:00–15:00，第 2026–2027 季",
        "订单 2024061500000000123",
        "订单 0012345678901",  # an order number padded with zeros is no 00 number
        "订单 ORDER-00852912345",
        "价格 ¥1,299.00，原价 1599.00",
        "涨价 +1299.00",
        "积分 +12800，变动 +12345678",
        "时区 +0800 UTC+8",
        "utm=spring+sale&q=a+b",
        "防晒霜 SPF50+ 30ml",
        "SKU SK-1001/SK-1002 × 2",
        "两件 共两百元，两室一厅",
        "1.3e+10",
        "家人 👨\u200d👩\u200d👧 好",  # zero-width joiners kept where nothing is masked
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_ordinary_values_are_left_alone() -> None:
    """An order as a shop sends it: nothing in it is personal."""
    order = {
        "order_id": "2024061500000000123",
        "paid_at": "2026-01-01 12:00:00",
        "created": "2026-01-01T08:00:00+08:00",
        "amount": 1299.0,
        "items": [{"sku": "SK-1001", "price": 139.0, "qty": 2, "product_name": "精华液 30ml"}],
        "utm": {"campaign": "spring+sale"},
        "积分变动": "+500",
    }
    assert mask_properties(order) == order


def test_international_numbers_cost_a_bounded_number_of_tries() -> None:
    """Each try is a phonenumbers parse (tens of microseconds): past MAX_PHONE_TRIES in one
    value, what still holds candidates is hidden whole rather than tried."""
    many = " ".join(f"+852 9123 {4000 + i:04d}" for i in range(MAX_PHONE_TRIES + 5))
    assert mask_text(many) == HIDDEN
    few = {f"k{i}": f"电话 +852 9123 {4000 + i:04d}" for i in range(MAX_PHONE_TRIES + 5)}
    out = mask_value(few)
    assert "9123 4000" not in _shown(out) and out["k0"] == "电话 +852 ****4000"
    assert out[f"k{MAX_PHONE_TRIES + 4}"] == HIDDEN


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("phone", "phone"),
        ("mobilePhone", "phone"),
        ("receiver_tel", "phone"),
        ("联系人电话", "phone"),
        ("收货人手机", "phone"),
        ("emails", "email"),
        ("邮箱", "email"),
        ("收货地址", "address"),
        ("shipping_address", "address"),
        ("addr2", "address"),
        ("idCard", "id"),
        ("IDCard", "id"),
        ("id_no", "id"),
        ("身份证号", "id"),
        ("name", "name"),
        ("buyer_name", "name"),
        ("姓名", "name"),
        ("收货人", "name"),
        ("shouji", "phone"),
        ("dizhi", "address"),
        ("product_name", None),
        ("hotel", None),
        ("user_id", None),
        ("sku", None),
    ],
)
def test_keys_say_what_they_hold(key: str, kind: str | None) -> None:
    assert key_kind(key) == kind


def test_a_personal_key_hides_whatever_is_under_it() -> None:
    out = mask_properties(
        {
            "receiver": {
                "姓名": "李四",
                "电话": "not a number",
                "地址": {"city": "上海", "d": "x"},
            },
            "phones": [13933334444, "+86 139 1234 5678"],
            "address": "上海市长宁区某某弄某号",
            "id_card": "110101199003071234",
            "email": "nobody",
        }
    )
    assert out["receiver"]["姓名"] == "李*"
    assert out["receiver"]["电话"] == HIDDEN
    assert out["receiver"]["地址"] == {"city": HIDDEN, "d": HIDDEN}
    assert out["phones"] == ["139****4444", "139****5678"]
    assert out["address"] == "上海市长宁区***"
    assert out["id_card"] == "110***********1234"
    assert out["email"] == HIDDEN


def test_depth_size_and_odd_values_are_bounded() -> None:
    deep: Any = "13933334444"
    for _ in range(MAX_DEPTH + 10):
        deep = {"k": deep}
    assert "13933334444" not in _shown(mask_properties(deep))
    wide = {f"k{i}": "13933334444" for i in range(30_000)}
    assert "13933334444" not in _shown(mask_properties(wide))
    huge = "13933334444 " + "a" * 70_000
    assert mask_text(huge) == HIDDEN
    hostile = "a" * 60_000 + "@"  # no backtracking blow-up on a long local part
    assert mask_text(hostile) == hostile
    assert mask_properties(None) == {}
    assert mask_properties(["13933334444"]) == {"value": ["139****4444"]}
    assert mask_properties({"13933334444": True}) == {"139****4444": True}


# -- property: planted personal data never leaks ------------------------------------------
def _id_card(area: int, year: int, month: int, day: int, seq: int, check: str) -> str:
    return f"{area}{year:04d}{month:02d}{day:02d}{seq:03d}{check}"


mobiles = st.builds(
    lambda head, rest, form: form.format(head + rest),
    st.sampled_from(["13", "14", "15", "16", "17", "18", "19"]),
    st.from_regex(r"[0-9]{9}", fullmatch=True),
    st.sampled_from(["{}", "+86{}", "+86 {}", "0086{}", "86{}"]),
) | st.builds(
    lambda d, sep: f"{d[:3]}{sep}{d[3:7]}{sep}{d[7:]}",
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.sampled_from([" ", "-", ".", "/", "–", "—", "\u200b", "\u00a0"]),
)
# valid numbers of other places, written as people write them (phonenumbers' examples)
abroad = st.sampled_from(
    [
        "+852 5123 4567",
        "+85221234567",
        "00853 6612 3456",
        "+886 912 345 678",
        "+65 8123 4567",
        "+1 201-555-0123",
        "+44 7400 123456",
        "0044 121 234 5678",
        "+81 90-1234-5678",
        "+61 2 1234 5678",
        "+82 10-2000-0000",
        "+86 10 1234 5678",
        "(+852) 5123 4567",
    ]
)
emails = st.builds(
    lambda local, domain, tld: f"{local}@{domain}.{tld}",
    st.from_regex(r"[a-z][a-z0-9._]{1,15}", fullmatch=True),
    st.from_regex(r"[a-z0-9]{2,12}", fullmatch=True),
    st.sampled_from(["com", "cn", "com.cn", "net", "org"]),
)
id_cards = st.builds(
    _id_card,
    st.integers(110000, 659999),
    st.integers(1930, 2015),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 999),
    st.sampled_from([*"0123456789", "X"]),
) | st.builds(
    lambda area, yy, mm, dd, seq: f"{area}{yy:02d}{mm:02d}{dd:02d}{seq:03d}",
    st.integers(110000, 659999),
    st.integers(30, 99),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 999),
)
addresses = st.builds(
    lambda road, kind, n, room: f"{road}{kind}{n}号{room}",
    st.sampled_from(["长宁", "南京西", "建国", "人民", "中山", "解放"]),
    st.sampled_from(["路", "街", "大道"]),
    st.integers(1, 3000),
    st.sampled_from(["", "5楼", "501室", "3栋2单元1201室"]),
)
secrets_st = st.one_of(mobiles, abroad, emails, id_cards, addresses)
filler = st.text(
    alphabet=st.sampled_from(
        list("张三李四的了在是我有和人这中大为上个国abcxyzABC0123456789.,!?-_")
    ),
    max_size=12,
)
separators = st.sampled_from([" ", "，", "：", "\n", "、", "(", ")", "；", "\t"])
keys = st.one_of(
    st.sampled_from(["备注", "message", "note", "contact", "data", "收货信息", "extra", "内容"]),
    st.text(alphabet=st.sampled_from(list("abcdefg_商品订单信息")), min_size=1, max_size=8),
)


@st.composite
def planted(draw: Any) -> tuple[Any, list[str]]:
    """A random JSON value with personal data planted in text, under keys and as numbers."""
    found: list[str] = []

    def leaf() -> Any:
        secret = draw(secrets_st)
        found.append(secret)
        how = draw(st.integers(0, 2))
        if how == 0:
            return secret
        if how == 1 and secret.isdigit() and len(secret) == 11:
            return int(secret)  # a phone kept as a number
        sep = draw(separators)
        return f"{draw(filler)}{sep}{secret}{draw(separators)}{draw(filler)}"

    def value(depth: int) -> Any:
        pick = draw(st.integers(0, 5 if depth < 6 else 2))
        if pick <= 1:
            return leaf()
        if pick == 2:
            return draw(st.one_of(filler, st.integers(0, 10_000), st.booleans(), st.none()))
        if pick == 3:
            return [value(depth + 1) for _ in range(draw(st.integers(0, 3)))]
        out = {}
        for _ in range(draw(st.integers(0, 4))):
            if draw(st.booleans()):
                out[draw(keys)] = value(depth + 1)
            else:
                secret = draw(secrets_st)
                found.append(secret)
                out[secret] = value(depth + 1)  # a key that is itself personal
        return out

    return {"root": value(0)}, found


@settings(max_examples=300, deadline=None)
@given(planted())
def test_planted_personal_data_never_leaks(case: tuple[Any, list[str]]) -> None:
    props, secrets = case
    shown = _shown(mask_properties(props))
    for secret in secrets:
        assert secret not in shown, (secret, shown)
        digits = "".join(c for c in secret if c.isdigit())
        if len(digits) >= 11 and "@" not in secret:  # phones and ID numbers, however spaced
            squeezed = re.sub(r"[^0-9A-Za-z*]", "", shown)
            assert digits[-11:] not in squeezed, (secret, shown)
