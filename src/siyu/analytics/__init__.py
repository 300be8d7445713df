"""The analytical copy (DuckDB, or Spark at scale) of the system of record's tables, without
direct identifiers."""

from siyu.capability import Capability

CAPABILITY = Capability(
    name="analytics",
    summary="The analytical copy (DuckDB/Spark) and its refresh",
    cli=".cli:register",
    package=__name__,
)
