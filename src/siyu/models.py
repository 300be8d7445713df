"""Import every capability's tables so Alembic and tests see the whole schema."""

from siyu.accounts import models as accounts  # noqa: F401
from siyu.brands import models as brands  # noqa: F401
from siyu.catalog import models as catalog  # noqa: F401
from siyu.customers import models as customers  # noqa: F401
from siyu.db import Base
from siyu.events import models as events  # noqa: F401
from siyu.ingest import models as ingest  # noqa: F401
from siyu.jobs import models as jobs  # noqa: F401
from siyu.metrics import models as metrics  # noqa: F401
from siyu.oa import models as oa  # noqa: F401
from siyu.orders import models as orders  # noqa: F401
from siyu.privacy import models as privacy  # noqa: F401
from siyu.reach import models as reach  # noqa: F401
from siyu.segments import models as segments  # noqa: F401
from siyu.tags import models as tags  # noqa: F401
from siyu.traits import models as traits  # noqa: F401
from siyu.wecom import models as wecom  # noqa: F401

metadata = Base.metadata
