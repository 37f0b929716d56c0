"""One JSON object per line for the server's logs (docs/deploy.md), and the request log's line.

The request line holds the request id, the route *template* (``/api/v1/registry/members/{member_id}``, never the
path a client typed — a path or a query may carry a number that identifies someone), the method, the status and
the latency.  Nothing of a request's body or query is logged anywhere.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

ACCESS_LOGGER = "onshi.access"
_installed = False


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", …extra fields given as ``extra={"fields": {...}}``}``."""

    def format(self, record: logging.LogRecord) -> str:
        # the record's own instant (stamped by logging), in UTC — a log tells when it happened, not Japan's day
        at = datetime.fromtimestamp(record.created, tz=timezone.utc)
        out = {"time": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, "fields", None)
        if fields:
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def install_json_logging(level: int = logging.INFO) -> None:
    """Send the ``onshi`` loggers to stderr as JSON lines (once per process; ``ONSHI_LOG_FORMAT=json``)."""
    global _installed
    if _installed:
        return
    _installed = True
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in ("onshi", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
