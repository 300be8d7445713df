"""Brands and their stores: the scope every customer, order and guide belongs to."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="brands",
    summary="Brands and stores (the scope of everything else)",
    models=(".models",),
    cli=".cli:register",
    copied_tables=(".models:COPIED",),
    package=__name__,
)
