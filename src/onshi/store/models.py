"""Imports every domain's models so that ``Base.metadata`` knows all tables (for Alembic)."""

from onshi.privacy import models as _privacy  # noqa: F401
from onshi.registry import models as _registry  # noqa: F401

try:  # domains added later register their tables here too
    from onshi.exchange import models as _exchange  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    from onshi.verify import models as _verify  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    from onshi.documents import models as _documents  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    from onshi.analytics import models as _analytics  # noqa: F401
except ImportError:  # pragma: no cover
    pass
try:
    from onshi.auth import models as _auth  # noqa: F401
except ImportError:  # pragma: no cover
    pass

from onshi.store.db import Base

metadata = Base.metadata
