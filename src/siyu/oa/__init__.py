"""The official account (公众号): who follows it, so template messages reach followers only.

Followers come in by the follower sync (``sync.py``: the whole list, resumable) and by the
account's event pushes (``api.py`` + ``inbox.py``: subscribe, unsubscribe, SCAN); each becomes a
customer through identity resolution (the openid under the account's AppID, and the unionid).
The send policy asks ``queries.following`` before a template message goes out.
"""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="oa",
    summary="Official account: followers, event pushes, template-message reach",
    models=(".models",),
    middleware=(".api:OaCallbackEndpoint",),
    cli=".cli:register",
    tasks=(".tasks",),
    pumps=(".tasks:inbox",),
    erasers=(".privacy:erase_oa",),
    package=__name__,
)
