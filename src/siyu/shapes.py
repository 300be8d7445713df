"""What read paths hand back and the API answers: declared shapes instead of loose dicts.

A capability's output shapes sit beside its read paths (``queries.py``, or ``shapes.py`` when
that is long) and derive from ``Shape``; routes declare them as their ``response_model``, so
the API document says what each answer holds. ``When`` is a moment written as Python's
``isoformat`` writes it (``+00:00``, as the API always has), not pydantic's ``Z``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, PlainSerializer, WithJsonSchema


class Shape(BaseModel):
    """An answer's declared shape. Populated by field name or alias (``from``); attributes
    read like the dicts they replace in templates (``x.name``)."""

    model_config = ConfigDict(populate_by_name=True, from_attributes=True, extra="forbid")


When = Annotated[
    datetime,
    PlainSerializer(lambda v: v.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]

# a figure that is a whole number or a fraction as computed (kept as it was, 0 stays 0)
Number = int | float
