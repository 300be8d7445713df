"""The console's Chinese for the refusals of do-not-disturb, consent recorded by staff, identity
conflicts and PIPL requests (merged into ``refusals_zh.ZH``; same keys, same placeholders)."""

from __future__ import annotations

CUSTOMERS_ZH: dict[str, str] = {
    # do-not-disturb
    "do-not-disturb source: one of {choices}": "免打扰来源只能是：{choices}。",
    "reason: at most {n} characters": "原因最多 {n} 个字符。",
    "give the reason for the change (what the customer asked, and when)": "请写明原因（客户提出了什么、何时提出）。",
    "text may not hold control characters": "文字里不能有控制字符。",
    # consent recorded by staff
    "action: grant or withdraw": "操作只能是同意或撤回。",
    "purpose: marketing (service messages follow their own rule, not consent)": "用途只能是营销（服务通知另有规则，不按授权发送）。",
    "evidence note: at most {n} characters": "凭证说明最多 {n} 个字符。",
    "evidence reference: at most {n} characters": "凭证编号最多 {n} 个字符。",
    "a grant needs evidence: a note of how the customer consented and/or a reference such as "
    "a signed form's number": "记录同意需要凭证：写明客户如何同意，和/或填写凭证编号（如签字授权书编号）。",
    "the time of consent needs its time zone": "同意时间需要带时区。",
    "the time of consent is in the future": "同意时间不能晚于现在。",
    "the time of consent is not a date and time": "同意时间不是有效的日期时间。",
    "{channel} consent for {address} was withdrawn at {withdrawn}, after the consent given at "
    "{given}; a grant must be newer than the withdrawal": "{address} 的 {channel} 营销授权已于 {withdrawn} 撤回，"
    "晚于所填的同意时间 {given}；新的同意必须在撤回之后。",
    "{channel} consent for {address} was withdrawn at {withdrawn}; record a new grant only if "
    "the customer consented again after that, and confirm it": "{address} 的 {channel} 营销授权已于 {withdrawn} 撤回。"
    "只有客户在撤回之后重新同意时才能记录，并请勾选确认。",
    "customer {id} has no consent record {consent}": "客户 {id} 没有编号为 {consent} 的授权记录。",
    "channel: one of {choices}": "渠道只能是：{choices}。",
    "customer {id} has no phone or e-mail address {identity}": "客户 {id} 没有编号为 {identity} 的手机号或邮箱。",
    "that address cannot be reached by {channel}": "这个地址不能通过 {channel} 联系。",
    "that {kind} is not one of customer {id}'s addresses": "这个 {kind} 不属于客户 {id}。",
    "customer {id} has no {kind} to record consent for": "客户 {id} 没有可记录授权的 {kind}。",
    "no brand {brand}": "没有品牌 {brand}。",
    "no brand yet: create one first (siyu brands add)": "还没有品牌，请先创建（siyu brands add）。",
    # identity conflicts
    "no identity conflict {id}": "没有编号为 {id} 的身份冲突。",
    "identity conflict {id} was already settled ({resolution})": "身份冲突 {id} 已经处理过了（{resolution}）。",
    "keep one of the two customers of the conflict: {a} or {b}": "请保留冲突中的一位客户：{a} 或 {b}。",
    # PIPL requests
    "{phone!r} is not a usable phone number: {reason}": "{phone!r} 不是可用的手机号：{reason}",
    "no customer holds this phone number": "没有客户使用这个手机号。",
}
