"""The member centre (``/m/``): the brand's customers sign in on their phones with an SMS code
or WeChat, and see their card, points, coupons and orders, set their own preferences, download
their data or delete their account (issue 25). Customer-facing: its own session cookie and
sign-in, never the staff's (DESIGN §11); what it shows of loyalty it asks ``loyalty``."""

from siyu.capability import Capability, Permission

CENTRE_TILL = Permission(
    "members:identify",
    "Identify a member at the till by the code on their card",
    roles=("operator", "store_guide"),
    api_key=True,
)
CENTRE_MANAGE = Permission(
    "centre:manage",
    "Set up the member centre: the domain-verification files WeChat asks for",
)

CAPABILITY = Capability(
    name="centre",
    package=__name__,
    summary="Member centre: customers' sign-in (SMS code, WeChat), card, points, coupons, data",
    models=(".models",),
    routers=(".api:router", ".public:router"),
    pages=(".views:router",),
    cli=".cli:register",
    tasks=(".tasks",),
    erasers=(".service:erase_sign_ins",),
    exporters=(".service:export_sign_ins",),
    permissions=(CENTRE_TILL, CENTRE_MANAGE),
)
