"""Products (SKUs) as the order imports find them."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="catalog",
    summary="Products (SKUs) found by the order imports",
    models=(".models",),
    copied_tables=(".models:COPIED",),
    package=__name__,
)
