"""An operator's word for a stored code (an order's status, an identity's kind, a campaign's
channel…): English marked for the catalogue, said in the reader's language by ``label``."""

from __future__ import annotations

from siyu.accounts.permissions import ROLE_LABELS
from siyu.i18n import N_, NP_, Phrase, say
from siyu.traits.labels import RFM_CLASS_LABELS, STAGE_LABELS

LABELS: dict[str, dict[str, str | Phrase]] = {
    "audience_mode": {
        "snapshot": N_("The segment when sending starts"),
        "live": N_("Live segment (still a member when sent)"),
    },
    "campaign_action": {
        "start": N_("Start sending"),
        "pause": N_("Pause"),
        "resume": N_("Resume"),
        "cancel": N_("Cancel campaign"),
        "approve": N_("Approve"),
    },
    "campaign_status": {
        "draft": N_("Draft"),
        "awaiting_approval": N_("Awaiting approval"),
        "scheduled": N_("Scheduled"),
        "sending": N_("Sending"),
        "paused": N_("Paused"),
        "cancelled": N_("Cancelled"),
        "done": N_("Done"),
    },
    "channel": {
        "sms": N_("SMS"),
        "email": N_("Email"),
        "wecom": N_("WeCom"),
        "oa": N_("Official account"),
        "call": N_("Phone call"),
    },
    "consent": {
        "granted": N_("Granted"),
        "withdrawn": N_("Withdrawn"),
    },
    "copy_state": {
        "rebuilt": N_("rebuilt and checked: nothing of the person left"),
        "no_copy": N_("no copy built yet"),
        "pending": N_("the person's rows are gone; the file is rebuilt at the next refresh"),
        "found": N_("still found in"),
    },
    "customer_done": {
        "dnd_on": N_("Do-not-disturb is on."),
        "dnd_off": N_("Do-not-disturb is off."),
        "consent_grant": N_("Consent recorded."),
        "consent_withdraw": N_("Consent withdrawn; it counts at once."),
        "unchanged": N_("Nothing changed: it already was so."),
        "merged": N_("Merged. It can be undone from the merge history."),
        "unmerged": N_("Merge undone; the profile is back."),
        "kept_apart": N_("Recorded as two people: the pair is not raised or merged again."),
    },
    "dnd_source": {
        "operator": N_("recorded by staff"),
        "import": N_("from an import"),
        "member": N_("the member's own choice"),
    },
    "funnel_step": {
        "first_seen": N_("First seen in the period"),
        "active": N_("Any activity or order"),
        "order": N_("Paid order"),
        "event": N_("A named event"),
    },
    "gender": {
        "male": N_("Male"),
        "female": N_("Female"),
    },
    "import_count": {
        "inserted": N_("Inserted"),
        "updated": N_("Updated"),
        "unchanged": N_("Unchanged (imported before)"),
        "customers_created": N_("New customers"),
        "merges": N_("Customers merged"),
        "conflicts": N_("Identity conflicts"),
        "suppressed": N_("Erased people seen again (not marketable)"),
        "consents": N_("Marketing consents recorded"),
        "batches": N_("Batches committed"),
    },
    "import_kind": {
        "orders": N_("Orders"),
        "customers": N_("Members"),
    },
    "job_status": {
        "running": N_("running"),
        "done": N_("done"),
        "failed": N_("failed"),
        "queued": N_("queued"),
    },
    "kind": {
        "phone": N_("Phone"),
        "email": NP_("identity", "Email"),
        "unionid": N_("WeChat unionid"),
        "openid": N_("WeChat openid"),
        "external_userid": N_("WeCom contact"),
        "buyer_id": N_("Platform buyer"),
        "member_id": N_("Member no."),
    },
    "points_kind": {
        "earn": N_("Earned"),
        "spend": N_("Spent"),
        "expire": N_("Expired"),
        "take_back": NP_("points", "Taken back (refund)"),
        "give_back": NP_("points", "Given back (refund)"),
        "debt": NP_("points", "Owed (refund)"),
        "repay": NP_("points", "Owed points repaid"),
        "adjust": NP_("points", "Adjusted"),
        "forgive": NP_("points", "Refund of expired points"),
    },
    "coupon_state": {
        "usable": NP_("coupon", "Usable"),
        "redeemed": NP_("coupon", "Used"),
        "expired": NP_("coupon", "Expired"),
        "void": NP_("coupon", "Withdrawn"),
    },
    "purpose": {
        "marketing": N_("Marketing"),
        "service": N_("Service"),
    },
    "reach_channel": {
        "wecom": N_("WeCom mass message"),
        "wecom_app": N_("Guide task (WeCom app message)"),
        "wecom_group": N_("WeCom customer-group message"),
        "sms": N_("SMS"),
        "email": N_("Email"),
        "oa": N_("Official-account template message (service only)"),
        "webhook": N_("Webhook"),
    },
    "recompute_step": {
        "copy": N_("refreshing the analytical copy"),
        "compute": N_("computing RFM and lifecycle"),
        "clv": N_("fitting CLV"),
        "write": N_("writing back"),
        "tags": N_("rule tags"),
    },
    "recurrence": {
        "none": N_("Once"),
        "daily": N_("Daily"),
        "weekly": N_("Weekly"),
    },
    "skip_reason": {
        "no_consent": N_("No marketing consent"),
        "consent_withdrawn": N_("Consent withdrawn"),
        "suppressed": N_("Suppressed (erased)"),
        "do_not_disturb": N_("Do not disturb"),
        "not_active": N_("Inactive or merged"),
        "no_address": N_("No address"),
        "quiet_hours": N_("Quiet hours, deferred to 08:00"),
        "expired": N_("Past its send-by time"),
        "cancelled": N_("Campaign cancelled"),
        "holdout": N_("Holdout"),
        "not_friend": N_("No longer a friend"),
        "not_confirmed": N_("Guide did not confirm"),
        "wecom_limit": N_("Over WeCom's limit"),
        "wecom_monthly_quota": N_("WeCom monthly quota used"),
        "sms_number_limit": N_("Per-number limit, later"),
        "left_segment": N_("Left the segment"),
        "template_error": N_("Template failed to render"),
        "guide_not_in_app": N_("Guide cannot receive app messages"),
        "group_gone": N_("Group dismissed"),
        "not_owner": N_("Not the group's owner"),
        "not_following": N_("No longer follows the official account"),
        "channel_not_configured": N_("Channel not configured"),
    },
    "source": {
        "taobao": N_("Taobao"),
        "tmall": N_("Tmall"),
        "jd": N_("JD"),
        "youzan": N_("Youzan"),
        "douyin": N_("Douyin"),
        "pos": N_("Store POS"),
        "csv": N_("Import"),
        "api": N_("Event API"),
    },
    "status": {
        "pending": N_("Pending"),
        "paid": N_("Paid"),
        "shipped": N_("Shipped"),
        "completed": N_("Completed"),
        "partially_refunded": N_("Partly refunded"),
        "refunded": N_("Refunded"),
        "cancelled": N_("Cancelled"),
    },
    "tag_source": {
        "manual": N_("by hand"),
        "rule": N_("rule"),
        "import": N_("import"),
        "wecom": N_("WeCom"),
    },
    "timeline": {
        "order": N_("Order"),
        "event": N_("Event"),
    },
    "unit": {
        "day": N_("days"),
        "week": N_("weeks"),
        "yuan": N_("yuan"),
    },
    "wx_alert": {
        "capacity": N_("Near capacity"),
        "live_code_full": N_("Live code has no staff free"),
        "customer_deleted": N_("Customer deleted guide"),
        "staff_deleted": N_("Guide deleted customer"),
        "transfer_failed": N_("Transfer failed"),
        "benefit_exhausted": N_("Benefit pool empty"),
        "group_code_full": N_("Group code full"),
        "duplicate_add": N_("Added again"),
        "welcome_render_error": N_("Welcome failed to render"),
        "reply_render_error": N_("Keyword reply failed to render"),
        "contact_way_quota": N_("Contact ways near the quota"),
        "welcome_extras_dropped": N_("Group QR left out of a full welcome"),
    },
    "wx_channel": {
        "store": N_("Store"),
        "poster": N_("Poster"),
        "parcel": N_("Parcel card"),
        "live": N_("Live stream"),
        "ad": N_("Ads"),
        "event": NP_("live code", "Event"),
        "other": N_("Other"),
    },
    "wx_handover": {
        "onjob": N_("On-job"),
        "resigned": N_("Resigned"),
    },
    "wx_inbox": {
        "queued": N_("Queued"),
        "working": N_("Working"),
        "done": NP_("inbox", "Done"),
        "ignored": N_("Ignored"),
        "failed": N_("Failed"),
    },
    "wx_item": {
        "queued": NP_("handover", "Queued"),
        "waiting": NP_("handover", "Waiting"),
        "succeeded": NP_("handover", "Done"),
        "refused": N_("Refused"),
        "limit": N_("Takeover full"),
        "failed": N_("Failed"),
    },
    "wx_match": {
        "words": N_("Words (jieba)"),
        "exact": N_("Exact"),
        "contains": N_("Contains"),
        "regex": N_("Regex"),
    },
    "wx_reply": {
        "sending": N_("Sending"),
        "sent": N_("Answered"),
        "failed": N_("Failed"),
        "no_match": N_("No match"),
        "window_closed": N_("Past 48 h"),
        "quota": N_("Reply limit used"),
        "render_error": NP_("keyword reply", "Template failed, not sent"),
    },
    "wx_reply_channel": {
        "kf": N_("Customer Service"),
        "app": N_("App"),
    },
    "wx_rotation": {
        "round_robin": N_("Round robin"),
        "weighted": N_("Weighted"),
    },
    "wx_run": {
        "running": N_("Running"),
        "done": N_("Finished"),
    },
    "wx_staff": {
        "1": NP_("staff", "Active"),
        "2": N_("Disabled"),
        "4": N_("Not activated"),
        "5": N_("Left"),
    },
    "wx_sync": {
        "running": N_("Running"),
        "done": NP_("sync", "Done"),
        "failed": N_("Failed"),
    },
    "wx_target": {
        "customer": N_("Customer"),
        "group": N_("Group"),
    },
    "wx_welcome": {
        "sent": N_("Sent"),
        "failed": N_("Failed"),
        "expired": N_("Expired"),
        "none": N_("None set"),
        "render_error": N_("Template failed, not sent"),
    },
    "rfm": dict(RFM_CLASS_LABELS),
    "stage": dict(STAGE_LABELS),
    "role": {r.value: name for r, name in ROLE_LABELS.items()},
}


def label(group: str, value: str | None) -> str:
    """The word for ``value`` of ``group`` in the reader's language (the code itself where
    there is none, ``-`` for nothing)."""
    if not value:
        return "-"
    found = LABELS.get(group, {}).get(value)
    return value if found is None else say(found)


def source_label(source: str | None) -> str:
    return label("source", source)
