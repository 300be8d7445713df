"""The console's Chinese for the refusals of message templates: the bounded sandbox
(``siyu.sandbox``), campaign templates (``reach.templates``), welcome messages and keyword
replies (the rest is in ``refusals_zh``; same keys, same placeholders)."""

from __future__ import annotations

TEMPLATES_ZH: dict[str, str] = {
    # the sandbox: checking
    "the template is longer than {n} characters": "模板超过 {n} 个字符。",
    "the template has more than {n} parts": "模板太复杂（超过 {n} 个语法单元）。",
    "the template is nested too deeply": "模板嵌套太深。",
    "syntax error: {reason}": "语法错误：{reason}",
    "{what} is not allowed in templates": "模板里不能用 {what}。",
    "recursive loops are not allowed in templates": "模板里不能用递归循环（recursive）。",
    "unknown filter '{name}'": "没有过滤器 '{name}'。",
    "'.{name}' cannot be used in templates": "模板里不能用 '.{name}'。",
    "% formatting of text is not allowed in templates": "模板里不能对文字用 % 格式化。",
    "unknown variable '{name}'": "没有变量 '{name}'。",
    # the sandbox: rendering
    "a template renders only through siyu.sandbox.render": "模板只能通过受限沙箱渲染。",
    "the template took longer than {ms} ms to render": "模板渲染超过 {ms} 毫秒，已停止。",
    "a value in the template grew past {n} characters": "模板里的一个值超过了 {n} 个字符。",
    "the template made more than {n} characters in all": "模板渲染时生成的文字合计超过 {n} 个字符。",
    "a number in the template grew past {bits} bits": "模板里的数字超过了 {bits} 位（二进制）。",
    "join takes a separator only": "join 只接受分隔符一个参数。",
    "round takes a precision from -20 to 20": "round 的精度须在 -20 到 20 之间。",
    "range() gives at most {n} numbers": "range() 最多给出 {n} 个数。",
    "loops may take at most {n} steps in one message": "一条消息里的循环合计最多执行 {n} 次。",
    "calling {name} is not allowed in templates": "模板里不能调用 {name}。",
    "the message is longer than {n} characters": "消息超过 {n} 个字符。",
    "the template failed: {reason}": "模板渲染出错：{reason}",
    # campaign templates: the part (and line), then why
    "{part}: {reason}": "{part}：{reason}",
    "{part} line {line}: {reason}": "{part} 第 {line} 行：{reason}",
    "{reason}": "{reason}",
    "must map each placeholder of the text to a value": "要为正文里的每个占位符给出取值。",
    "must map each field of the template to a value": "要为模板的每个字段给出取值。",
    "fallback or skip": "请填 fallback（用代替文字）或 skip（跳过该客户）。",
    "a text for some of: {names}": "为以下变量中的若干个给出代替文字：{names}",
    "an email needs a subject": "邮件需要主题。",
    "an email needs a text body (HTML is optional)": "邮件需要纯文本正文（HTML 可选）。",
    "'{name}' differs per customer, but a WeCom mass message is one text for many customers: "
    "use store, city, province, tier or stage": "'{name}' 因客户而异，而企业微信群发是多位客户共用"
    "一段文字：请用门店、城市、省份、分层或阶段。",
    "'{name}' belongs to one customer, but a group message is one text for the whole group: "
    "write it without customer variables": "'{name}' 属于单个客户，而客户群消息是整个群共用一段"
    "文字：请不要用客户变量。",
    "the message is empty": "消息是空的。",
    "WeChat allows official-account template messages for service notices only; reach "
    "followers for marketing through WeCom or SMS": "微信只允许公众号模板消息用于服务通知；"
    "营销请通过企业微信或短信触达粉丝。",
    "the approved template's id": "请填写审核通过的模板 ID。",
    "the template's fields, e.g. {example}": "请填写模板的字段，例如 {example}",
    "a webhook needs an http:// or https:// address": "Webhook 需要 http:// 或 https:// 地址。",
    "an SMS needs sign_name and template_code": "短信需要签名（sign_name）和模板编号（template_code）。",
    "the approved template text, with {aliyun} (Aliyun) or {tencent} (Tencent) placeholders": (
        "请填写审核通过的模板原文，占位符为 {aliyun}（阿里云）或 {tencent}（腾讯云）。"
    ),
    "the text has {placeholder} but no value": "正文里有 {placeholder}，但没有给出取值。",
    "not a placeholder of the approved text": "审核通过的正文里没有这个占位符。",
    "a marketing SMS must end with 「{suffix}」": "营销短信必须以「{suffix}」结尾。",
    "link() takes an http:// or https:// address": "link() 需要 http:// 或 https:// 地址。",
    "at most {n} links in one message": "一条消息最多 {n} 个链接。",
    "a link() address has at most {n} characters": "link() 的地址最多 {n} 个字符。",
    # welcome messages and keyword replies
    "template error: {reason}": "模板有误：{reason}",
    "reply: {reason}": "回复文字：{reason}",
    "reply line {line}: {reason}": "回复文字第 {line} 行：{reason}",
}
