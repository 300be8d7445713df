"""Every capability's tables in one metadata, for Alembic and the tests."""

from siyu.capabilities import import_models
from siyu.db import Base

import_models()
metadata = Base.metadata
