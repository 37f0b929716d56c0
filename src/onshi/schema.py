"""Every table of every domain in one ``MetaData``: Alembic's target (``store/migrations/env.py``) and the list of
tables the tests empty.

Each domain declares its tables in its own ``models.py`` on :class:`onshi.store.db.Base`; this module, which sits
above all domains (docs/architecture.md), imports them so that ``metadata`` knows them all.  A domain's model
module that fails to import fails here, loudly — there are no optional domains.
"""

from onshi.analytics import models as _analytics  # noqa: F401
from onshi.auth import models as _auth  # noqa: F401
from onshi.claims import models as _claims  # noqa: F401
from onshi.benefits import models as _benefits  # noqa: F401
from onshi.documents import models as _documents  # noqa: F401
from onshi.exchange import models as _exchange  # noqa: F401
from onshi.interop.oqs import models as _interop_oqs  # noqa: F401
from onshi.outage import models as _outage  # noqa: F401
from onshi.privacy import models as _privacy  # noqa: F401
from onshi.registry import models as _registry  # noqa: F401
from onshi.store import batch as _batch  # noqa: F401 - batch_runs, batch_units (the task engine's records)
from onshi.store.db import Base
from onshi.verify import models as _verify  # noqa: F401

metadata = Base.metadata

__all__ = ["metadata"]
