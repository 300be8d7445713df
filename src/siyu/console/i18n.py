"""Console wording, Chinese first. Every key must exist in both languages (a test checks)."""

from __future__ import annotations

from collections.abc import Callable

from siyu.accounts.permissions import ROLE_LABELS
from siyu.console.i18n_admin import ADM_TEXT
from siyu.console.i18n_customers import CU_TEXT
from siyu.console.i18n_imports import IMP_TEXT
from siyu.console.i18n_jobs import JOBS_TEXT
from siyu.console.i18n_metrics import MX_TEXT
from siyu.console.i18n_reach import RC_LABELS, RC_TEXT
from siyu.console.i18n_scope import SCOPE_TEXT
from siyu.console.i18n_wecom import WX_LABELS, WX_TEXT
from siyu.traits.labels import RFM_CLASS_LABELS, STAGE_LABELS

LANGUAGES = ("zh-CN", "en")

TEXT: dict[str, dict[str, str]] = {
    "zh-CN": {
        "app": "私域 Siyu",
        "nav.customers": "客户",
        "nav.insight": "客户洞察",
        "nav.segments": "分群",
        "seg.title": "客户分群",
        "seg.new": "新建分群",
        "seg.none": "还没有分群。点「新建分群」用规则圈选客户，或用 siyu segments import-list 上传手机号名单。",
        "seg.name": "名称",
        "seg.size": "人数",
        "seg.kind": "类型",
        "seg.dynamic": "动态",
        "seg.static": "静态名单",
        "seg.rule": "规则",
        "seg.refreshed": "更新于",
        "seg.data_as_of": "数据截至",
        "seg.trend": "人数变化",
        "seg.export": "导出 CSV（脱敏）",
        "seg.error": "上次更新失败",
        "seg.builder": "规则编辑器",
        "seg.builder_hint": "添加条件、选择字段与运算符、填写取值；条件组可以嵌套。下方实时显示人数与可触达人数。",
        "seg.add_condition": "+ 条件",
        "seg.add_group": "+ 条件组",
        "seg.all": "满足全部",
        "seg.any": "满足任一",
        "seg.negate": "取反",
        "seg.remove": "删除",
        "seg.window_days": "最近天数",
        "seg.window_from": "起",
        "seg.window_to": "止",
        "seg.filters": "筛选 (如 category=防晒)",
        "seg.event": "事件名",
        "seg.text": "文字写法",
        "seg.count": "人数",
        "seg.reach": "可触达：短信 {sms}，邮件 {email}，企业微信 {wecom}",
        "seg.sample": "样本（脱敏）",
        "seg.save": "保存分群",
        "seg.saved": "已保存",
        "seg.history_none": "还没有刷新记录。",
        "trend.title": "客户洞察趋势",
        "trend.none": "还没有计算记录。运行 siyu traits recompute 后，这里显示 RFM 分层、生命周期和 CLV 的分布及变化。",
        "trend.lifecycle": "生命周期分布",
        "trend.rfm": "RFM 八类分布",
        "trend.clv": "CLV 分位数",
        "trend.as_of": "参考日 {d}，共 {n} 位购买客户",
        "trend.last_run": "最近一次计算",
        "trend.freshness": "分析副本",
        "trend.rows": "{n} 行",
        "trend.clv_model": "CLV 模型参数",
        "trend.unit_day": "天",
        "trend.unit_week": "周",
        "trend.unit_yuan": "元",
        "trend.clv_units": "α 以模型的时间单位计，v 以元计（平均客单价 = p·v/(q−1)）；r、a、b、p、q 无单位。",
        "nav.logout": "退出",
        "login.title": "登录",
        "login.username": "用户名",
        "login.password": "密码",
        "login.submit": "登录",
        "login.demo": "演示账号",
        "customers.title": "客户池",
        "customers.search": "手机号 / 姓名 / 会员号",
        "customers.source": "来源",
        "customers.store": "门店",
        "customers.all": "全部",
        "customers.filter": "筛选",
        "customers.total": "共 {n} 位客户",
        "customers.empty": "还没有客户。导入订单（siyu import orders）或接入事件 API 后，客户会出现在这里。",
        "customers.nomatch": "没有符合条件的客户，试试换个关键词或清除筛选。",
        "col.id": "编号",
        "col.name": "姓名",
        "col.phone": "手机号",
        "col.city": "城市",
        "col.source": "来源",
        "col.store": "门店",
        "col.first_seen": "首次出现",
        "detail.customer": "客户",
        "detail.profile": "基本资料",
        "detail.identities": "身份标识",
        "detail.consent": "营销授权",
        "detail.orders": "订单",
        "detail.events": "行为事件",
        "detail.merges": "合并记录",
        "detail.unmask": "显示完整信息（将记入审计日志）",
        "detail.unmasked": "已显示完整信息，本次查看已记入审计日志",
        "detail.gender": "性别",
        "detail.birthday": "生日",
        "detail.region": "地区",
        "detail.spend": "累计消费",
        "detail.order_count": "有效订单",
        "detail.suppressed": "已申请删除个人信息，不可营销",
        "detail.none": "暂无",
        "col.kind": "类型",
        "col.value": "值",
        "col.channel": "渠道",
        "col.purpose": "用途",
        "col.status": "状态",
        "col.time": "时间",
        "col.platform": "平台",
        "col.order_id": "订单号",
        "col.amount": "实付",
        "col.items": "商品",
        "col.event": "事件",
        "error.forbidden": "您没有权限查看此内容。",
        "error.notfound": "找不到该客户。",
        "error.segment_notfound": "找不到该分群。",
        "page.prev": "上一页",
        "page.next": "下一页",
        "tags.title": "标签",
        "tags.by_manual": "手动",
        "tags.by_rule": "规则",
        "tags.by_import": "导入",
        "tags.by_wecom": "企业微信",
        "insight.title": "客户洞察",
        "insight.none": "还没有计算结果。运行 siyu traits recompute（后台每小时自动计算）后显示。",
        "insight.scope_all": "全部品牌",
        "insight.rfm": "RFM 分层",
        "insight.scores": "R / F / M 得分",
        "insight.recency": "距上次购买",
        "insight.days": "{n} 天",
        "insight.frequency": "购买次数（窗口内）",
        "insight.monetary": "消费金额（窗口内）",
        "insight.stage": "生命周期",
        "insight.since": "自 {d} 起",
        "insight.p_alive": "仍活跃概率",
        "insight.expected": "预计购买次数 30/90/365 天",
        "insight.spend": "预计客单价",
        "insight.clv": "客户终身价值 CLV",
        "summary.title": "购买概况",
        "summary.first": "首次购买",
        "summary.last": "最近购买",
        "summary.aov": "客单价",
        "summary.categories": "偏好品类",
        "summary.channels": "购买渠道",
        "summary.stores": "常去门店",
        "timeline.title": "时间线",
        "timeline.order": "订单",
        "timeline.event": "事件",
        "gender.male": "男",
        "gender.female": "女",
    },
    "en": {
        "app": "Siyu",
        "nav.customers": "Customers",
        "nav.insight": "Insight",
        "nav.segments": "Segments",
        "seg.title": "Segments",
        "seg.new": "New segment",
        "seg.none": "No segments yet. Use “New segment” to pick customers by rule, or upload a phone list with siyu segments import-list.",
        "seg.name": "Name",
        "seg.size": "Size",
        "seg.kind": "Kind",
        "seg.dynamic": "Dynamic",
        "seg.static": "Static list",
        "seg.rule": "Rule",
        "seg.refreshed": "Refreshed",
        "seg.data_as_of": "Data as of",
        "seg.trend": "Size over time",
        "seg.export": "Export CSV (masked)",
        "seg.error": "Last refresh failed",
        "seg.builder": "Rule builder",
        "seg.builder_hint": "Add conditions, pick a field and operator, fill in the value; groups nest. The count and reach below update as you go.",
        "seg.add_condition": "+ Condition",
        "seg.add_group": "+ Group",
        "seg.all": "All of",
        "seg.any": "Any of",
        "seg.negate": "Not",
        "seg.remove": "Remove",
        "seg.window_days": "Last days",
        "seg.window_from": "From",
        "seg.window_to": "To",
        "seg.filters": "Filters (e.g. category=防晒)",
        "seg.event": "Event name",
        "seg.text": "As text",
        "seg.count": "Customers",
        "seg.reach": "Reachable: SMS {sms}, email {email}, WeCom {wecom}",
        "seg.sample": "Sample (masked)",
        "seg.save": "Save segment",
        "seg.saved": "Saved",
        "seg.history_none": "No refreshes yet.",
        "trend.title": "Customer insight trends",
        "trend.none": "No recompute yet. After siyu traits recompute, RFM classes, lifecycle stages and CLV show here with their movement.",
        "trend.lifecycle": "Lifecycle stages",
        "trend.rfm": "RFM classes",
        "trend.clv": "CLV quantiles",
        "trend.as_of": "Reference date {d}, {n} buyers",
        "trend.last_run": "Last recompute",
        "trend.freshness": "Analytical copy",
        "trend.rows": "{n} rows",
        "trend.clv_model": "CLV model parameters",
        "trend.unit_day": "days",
        "trend.unit_week": "weeks",
        "trend.unit_yuan": "yuan",
        "trend.clv_units": "α is in the model's time unit, v in yuan (mean spend per purchase = p·v/(q−1)); r, a, b, p and q have no unit.",
        "nav.logout": "Log out",
        "login.title": "Log in",
        "login.username": "Username",
        "login.password": "Password",
        "login.submit": "Log in",
        "login.demo": "Demo login",
        "customers.title": "Customer pool",
        "customers.search": "Phone / name / member no.",
        "customers.source": "Source",
        "customers.store": "Store",
        "customers.all": "All",
        "customers.filter": "Filter",
        "customers.total": "{n} customers",
        "customers.empty": "No customers yet. Import orders (siyu import orders) or send events to the API and they appear here.",
        "customers.nomatch": "No customer matches; try another keyword or clear the filters.",
        "col.id": "ID",
        "col.name": "Name",
        "col.phone": "Phone",
        "col.city": "City",
        "col.source": "Source",
        "col.store": "Store",
        "col.first_seen": "First seen",
        "detail.customer": "Customer",
        "detail.profile": "Profile",
        "detail.identities": "Identities",
        "detail.consent": "Consent",
        "detail.orders": "Orders",
        "detail.events": "Events",
        "detail.merges": "Merges",
        "detail.unmask": "Show full details (recorded in the audit log)",
        "detail.unmasked": "Full details shown; this view was recorded in the audit log",
        "detail.gender": "Gender",
        "detail.birthday": "Birthday",
        "detail.region": "Region",
        "detail.spend": "Total spend",
        "detail.order_count": "Valid orders",
        "detail.suppressed": "Asked to be erased: not marketable",
        "detail.none": "None",
        "col.kind": "Kind",
        "col.value": "Value",
        "col.channel": "Channel",
        "col.purpose": "Purpose",
        "col.status": "Status",
        "col.time": "Time",
        "col.platform": "Platform",
        "col.order_id": "Order no.",
        "col.amount": "Paid",
        "col.items": "Items",
        "col.event": "Event",
        "error.forbidden": "You do not have permission to see this.",
        "error.notfound": "Customer not found.",
        "error.segment_notfound": "Segment not found.",
        "page.prev": "Previous",
        "page.next": "Next",
        "tags.title": "Tags",
        "tags.by_manual": "by hand",
        "tags.by_rule": "rule",
        "tags.by_import": "import",
        "tags.by_wecom": "WeCom",
        "insight.title": "Customer insight",
        "insight.none": "Not computed yet. Run siyu traits recompute (the worker does it hourly).",
        "insight.scope_all": "All brands",
        "insight.rfm": "RFM class",
        "insight.scores": "R / F / M scores",
        "insight.recency": "Since last purchase",
        "insight.days": "{n} days",
        "insight.frequency": "Orders (window)",
        "insight.monetary": "Spend (window)",
        "insight.stage": "Lifecycle",
        "insight.since": "since {d}",
        "insight.p_alive": "P(alive)",
        "insight.expected": "Expected purchases 30/90/365 days",
        "insight.spend": "Expected order value",
        "insight.clv": "Customer lifetime value",
        "summary.title": "Buying summary",
        "summary.first": "First purchase",
        "summary.last": "Last purchase",
        "summary.aov": "Average order value",
        "summary.categories": "Favourite categories",
        "summary.channels": "Channels",
        "summary.stores": "Stores",
        "timeline.title": "Timeline",
        "timeline.order": "Order",
        "timeline.event": "Event",
        "gender.male": "Male",
        "gender.female": "Female",
    },
}

SOURCES = {
    "taobao": ("淘宝", "Taobao"),
    "tmall": ("天猫", "Tmall"),
    "jd": ("京东", "JD"),
    "youzan": ("有赞", "Youzan"),
    "douyin": ("抖音", "Douyin"),
    "pos": ("门店", "Store POS"),
    "csv": ("导入", "Import"),
    "api": ("事件API", "Event API"),
}


LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "rfm": RFM_CLASS_LABELS,
    "stage": STAGE_LABELS,
    "kind": {
        "phone": ("手机号", "Phone"),
        "email": ("邮箱", "Email"),
        "unionid": ("微信 unionid", "WeChat unionid"),
        "openid": ("微信 openid", "WeChat openid"),
        "external_userid": ("企业微信客户", "WeCom contact"),
        "buyer_id": ("平台买家账号", "Platform buyer"),
        "member_id": ("会员号", "Member no."),
    },
    "status": {
        "pending": ("待付款", "Pending"),
        "paid": ("已付款", "Paid"),
        "shipped": ("已发货", "Shipped"),
        "completed": ("已完成", "Completed"),
        "partially_refunded": ("部分退款", "Partly refunded"),
        "refunded": ("已退款", "Refunded"),
        "cancelled": ("已取消", "Cancelled"),
    },
    "channel": {
        "sms": ("短信", "SMS"),
        "email": ("邮件", "Email"),
        "wecom": ("企业微信", "WeCom"),
        "oa": ("公众号", "Official account"),
        "call": ("电话", "Phone call"),
    },
    "purpose": {"marketing": ("营销", "Marketing"), "service": ("服务", "Service")},
    "consent": {"granted": ("已同意", "Granted"), "withdrawn": ("已撤回", "Withdrawn")},
}


for _lang, _text in WX_TEXT.items():
    TEXT[_lang].update(_text)
for _lang, _text in MX_TEXT.items():
    TEXT[_lang].update(_text)
for _lang, _text in RC_TEXT.items():
    TEXT[_lang].update(_text)
for _lang, _text in ADM_TEXT.items():
    TEXT[_lang].update(_text)
for _lang, _text in JOBS_TEXT.items():
    TEXT[_lang].update(_text)
for _lang, _text in CU_TEXT.items():
    TEXT[_lang].update(_text)
for _lang, _text in SCOPE_TEXT.items():
    TEXT[_lang].update(_text)
for _lang, _text in IMP_TEXT.items():
    TEXT[_lang].update(_text)
LABELS.update(WX_LABELS)
LABELS.update(RC_LABELS)
LABELS["role"] = {r.value: names for r, names in ROLE_LABELS.items()}


def label(group: str, value: str | None, lang: str) -> str:
    """An operator's word for a stored code (order status, identity kind…)."""
    if not value:
        return "-"
    zh, en = LABELS.get(group, {}).get(value, (value, value))
    return zh if lang == "zh-CN" else en


def translator(lang: str) -> Callable[..., str]:
    table = TEXT.get(lang, TEXT["zh-CN"])

    def t(key: str, **kw: object) -> str:
        text = table.get(key, key)
        return text.format(**kw) if kw else text

    return t


def source_label(source: str | None, lang: str) -> str:
    if not source:
        return "-"
    zh, en = SOURCES.get(source, (source, source))
    return zh if lang == "zh-CN" else en
