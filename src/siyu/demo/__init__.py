"""The demo brand: generated customers, orders, WeCom friends and campaigns for `make run`."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="demo",
    summary="The demo brand's generated data",
    cli=".cli:register",
    package=__name__,
)
