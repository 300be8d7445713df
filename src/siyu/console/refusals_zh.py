"""The console's Chinese for every refusal template the services raise (``siyu.refusals``).
Keys are the English templates exactly; placeholders are the same names."""

from __future__ import annotations

from siyu.console.refusals_zh_customers import CUSTOMERS_ZH
from siyu.console.refusals_zh_imports import IMPORTS_ZH
from siyu.console.refusals_zh_rules import RULES_ZH
from siyu.console.refusals_zh_templates import TEMPLATES_ZH

ZH: dict[str, str] = {
    **RULES_ZH,  # segment rules, segments, tags, caps, merges, recomputes
    **CUSTOMERS_ZH,  # do-not-disturb, consent by staff, identity conflicts, PIPL requests
    **TEMPLATES_ZH,  # message templates: the sandbox, campaigns, welcomes, keyword replies
    **IMPORTS_ZH,  # import files, workbooks, mapping files, the import page's uploads
    # users, roles, API keys
    "password must have at least 10 characters": "密码至少要 10 个字符。",
    "the demo password is public; choose another": "演示密码是公开的，请换一个。",
    "unknown role {role!r}; choose one of {choices}": "没有角色 {role!r}，可选：{choices}。",
    "a store guide needs a store (--store)": "门店导购需要指定门店（--store）。",
    "a store guide needs a store": "门店导购需要指定门店。",
    "user {username!r} already exists": "用户 {username!r} 已存在。",
    "user {username!r} has the public demo password; change it (`siyu users passwd`) or run in "
    "demo mode": "用户 {username!r} 仍在用公开的演示密码：请改密码（`siyu users passwd`），"
    "或以演示模式运行。",
    "invalid scope(s) {bad}; allowed: {allowed}": "权限范围无效：{bad}；可选：{allowed}。",
    "no API key with prefix {prefix!r}": "没有前缀为 {prefix!r} 的 API 密钥。",
    "no active user {username!r}": "没有在用的用户 {username!r}。",
    "no user {id}": "没有编号为 {id} 的用户。",
    "no store {id}": "没有编号为 {id} 的门店。",
    "WeCom userid {value!r}: 1–64 letters, digits, _ - . or @": "企微账号 {value!r}：1–64 位字母、数字或 _ - . @。",
    "the last active administrator cannot lose that role": "这是最后一位在用的管理员，不能改成别的角色。",
    "name the key after what uses it (e.g. 小程序事件)": "请给密钥起个名字，写明谁在用它（例如「小程序事件」）。",
    # numbers typed into forms and query strings (siyu.untrusted)
    "{text!r} is not a whole number from {least} to {most}": "{text!r} 不是 {least}–{most} 之间的整数。",
    # the official account
    "no official account is configured (set SIYU_OA_APPID and SIYU_OA_SECRET)": "还没有配置公众号"
    "（请设置 SIYU_OA_APPID 和 SIYU_OA_SECRET）。",
    # campaigns and the send ledger
    "name: 1–100 characters": "名称：1–100 个字符。",
    "channels: one or more, each once": "渠道：至少一个，且不能重复。",
    "a customer-group campaign has the one channel wecom_group, no A/B variants and no holdout "
    "(a group is shared, not one customer)": "客户群群发只能用「企微客户群」这一个渠道，"
    "不能做 A/B 测试，也不能留对照组（一个群是大家共用的，不是某一位客户）。",
    "a customer-group campaign is aimed at groups (group filter), not a segment": "客户群群发按群筛选发送，不选人群。",
    "a customer-group campaign takes the groups as they are when it runs": "客户群群发按发送时的群发送，不能选“实时人群”。",
    "channel {channel}: one of {choices} (or {group} alone)": "渠道 {channel} 不可用：可选 {choices}（或单独选 {group}）。",
    "a group filter is for customer-group campaigns (wecom_group)": "群筛选只用于客户群群发（wecom_group）。",
    "no segment {id}": "没有编号为 {id} 的分群。",
    "purpose: marketing or service": "用途：营销或服务通知。",
    "holdout: 0–50 per cent": "对照组：0–50%。",
    "audience: snapshot (the segment when sending starts) or live": "受众：开始发送时的人群快照，或实时人群。",
    "recurrence: none, daily or weekly": "重复：不重复、每天或每周。",
    "scheduled time: from {first} to {last}": "发送时间：{first} 到 {last} 之间。",
    "a recurring campaign needs its first time (scheduled_at)": "重复发送的活动需要填写第一次发送时间。",
    "send_by_hours: 1–720": "发送时限：1–720 小时。",
    "cost per message: 0 or more fen": "每条成本：0 分或以上。",
    "a template for {channel}, which is not one of the channels": "{channel} 的模板不属于所选渠道。",
    "no template for {channel}": "{channel} 还没有模板。",
    "template {channel} {reason}": "{channel} 模板有误：{reason}",
    "template {reason}": "模板有误：{reason}",
    "webhook: {reason}": "Webhook：{reason}",
    "variants: two or more, each with its own short key (A, B, …)": "A/B 版本：至少两个，各有自己的简短代号（A、B…）。",
    "variant weights: whole per cents that add up to 100": "各版本比例：整数百分比，合计 100。",
    "variant {key}: {reason}": "版本 {key}：{reason}",
    "a {status} campaign cannot be started": "活动当前状态为 {status}，不能开始发送。",
    "no customer group matches the group filter": "没有符合群筛选条件的客户群。",
    "the audience segment is empty: nobody would get this": "所选人群是空的：没有人会收到。",
    "no action {action}: {choices}": "没有操作 {action}，可选：{choices}。",
    "the audience is empty: nobody would get this": "受众是空的：没有人会收到。",
    "a {status} campaign is not waiting for approval": "活动当前状态为 {status}，不在等待审批。",
    "a campaign is approved by someone other than who planned it": "活动需要由创建人以外的人审批。",
    "a {status} campaign cannot become {to}": "活动当前状态为 {status}，不能改为 {to}。",
    "outcome: one of {choices}": "结果：可选 {choices}。",
    "no message {id}": "没有编号为 {id} 的消息。",
    "message {id} is {state}, not ambiguous": "消息 {id} 的状态是 {state}，不是“结果不明”。",
    "group filter: owners (a list of staff userids) and/or name_contains": "群筛选：群主（员工账号列表）和/或群名包含。",
    "group filter owners: a list of staff userids": "群筛选的群主：员工账号列表。",
    "group filter name_contains: up to 100 characters": "群筛选的群名包含：最多 100 个字符。",
    "the campaign has no audience segment": "活动还没有选人群。",
    "not an outcome: {state}": "不是发送结果：{state}",
    "a deferred row needs the time it is due again": "推迟发送的消息需要写明何时再发。",
    # live codes
    "staff {part!r}: write userid[:weight[:daily limit]]": "员工 {part!r}：请写成 账号[:权重[:每日上限]]。",
    "staff {part!r}: weight must be 1–100": "员工 {part!r}：权重须为 1–100。",
    "channel: one of {choices}": "渠道：可选 {choices}。",
    "rotation: one of {choices}": "分配方式：可选 {choices}。",
    "staff: at least one staff member": "员工：至少选一位。",
    "staff: a member is listed twice": "员工：有人被列了两次。",
    "staff {userid!r}: unknown (run siyu wecom sync first?)": "员工 {userid!r}：找不到（请先运行 siyu wecom sync 同步）。",
    "staff {userid!r}: not active with customer-contact rights": "员工 {userid!r}：不在职或没有客户联系权限。",
    "tag: {reason}": "标签：{reason}",
    "store: no store with code {code!r}": "门店：没有编码为 {code!r} 的门店。",
    "welcome: {reason}": "欢迎语：{reason}",
    "WeCom refused the contact way: {reason}": "企业微信拒绝创建联系我二维码：{reason}",
    "WeCom refused the join way: {reason}": "企业微信拒绝创建加群二维码：{reason}",
    "groups: 1–{n} customer groups": "客户群：1–{n} 个。",
    "groups: unknown or dismissed {group!r} (run siyu wecom sync?)": "客户群 {group!r} 找不到或已解散（请运行 siyu wecom sync 同步）。",
    "groups: every group already has {n} members": "客户群：每个群都已满 {n} 人。",
    "groups: unknown or dismissed group (run siyu wecom sync?)": "客户群找不到或已解散（请运行 siyu wecom sync 同步）。",
    "groups: at most {n} in one code": "客户群：一个群活码最多 {n} 个群。",
    # WeCom: the corp, keyword replies, handovers, welcome messages
    "corp id: 4–64 letters, digits, _ or - (WeCom shows it as ww…)": "企业 ID：4–64 位字母、数字、_ 或 -（企业微信后台显示为 ww…）。",
    "agent id: the app's AgentId, digits only": "AgentId：自建应用的 AgentId，只含数字。",
    "secret: the app's Secret (up to 128 printable characters)": "Secret：自建应用的 Secret（最多 128 个可见字符）。",
    "token: 1–32 letters or digits, as set on the callback page": "Token：1–32 位字母或数字，与回调配置页填写的一致。",
    "no WeCom corp {corp!r} is connected (siyu wecom corp add)": "尚未接入企业 {corp!r}（siyu wecom corp add）。",
    "several corps: name one with --corp": "接入了多个企业：请用 --corp 指定一个。",
    "aes key: {reason}": "EncodingAESKey：{reason}",
    "brand: no brand with code {code!r}": "品牌：没有编码为 {code!r} 的品牌。",
    "no WeCom corp is connected": "还没有接入企业微信。",
    "match: one of {choices}": "匹配方式：可选 {choices}。",
    "pattern: 1–{n} characters": "关键词：1–{n} 个字符。",
    "pattern: give at least one word": "关键词：至少写一个词。",
    "reply: at most {n} characters": "回复内容：最多 {n} 个字符。",
    "channel: kf (微信客服) and/or app (自建应用), not {bad}": "渠道：微信客服（kf）和/或自建应用（app），不能是 {bad}。",
    "a rule needs a reply text or a benefit pool": "规则需要回复内容或权益码池。",
    "no keyword rule {id}": "没有编号为 {id} 的关键词规则。",
    "pool: 1–100 characters": "权益码池名称：1–100 个字符。",
    "pool: no benefit pool {pool!r} (siyu wecom benefit load)": "没有权益码池 {pool!r}（先用 siyu wecom benefit load 导入）。",
    "exhausted text: 1–500 characters": "领完后的回复：1–500 个字符。",
    "pattern: not a regular expression ({reason})": "关键词不是有效的正则表达式（{reason}）。",
    "no staff member {userid!r} (run siyu wecom sync first?)": "找不到员工 {userid!r}（请先运行 siyu wecom sync 同步）。",
    "kind: onjob (在职转接) or resigned (离职继承)": "类型：在职转接（onjob）或离职继承（resigned）。",
    "the customers would stay with the same member": "转出和接替的是同一位员工。",
    "message: at most 200 characters": "转接提示语：最多 200 个字符。",
    "{userid} has not left the company: use an on-job transfer": "{userid} 尚未离职：请用在职转接。",
    "{userid} has left the company: use resigned inheritance": "{userid} 已离职：请用离职继承。",
    "{userid} is not an active member (status {status})": "{userid} 不是在职成员（状态 {status}）。",
    "{userid} has no customers or groups matching the selection": "{userid} 没有符合所选条件的客户或群。",
    "no live code {id}": "没有编号为 {id} 的渠道活码。",
    "{userid} cannot take over these customers": "{userid} 不能接替这些客户。",
    "{userid} has room for {n} more customers only": "{userid} 只能再接 {n} 位客户。",
    "text longer than {n} characters": "文字超过 {n} 个字符。",
    "at most {n} attachments": "最多 {n} 个附件。",
    "a welcome needs text or an attachment": "欢迎语需要文字或附件。",
    "template error on line {line}: {reason}": "模板第 {line} 行有误：{reason}",
    "attachment {n}: give msgtype (image, link or miniprogram) and its object": "附件 {n}：请写明类型（图片、链接或小程序）及其内容。",
}
