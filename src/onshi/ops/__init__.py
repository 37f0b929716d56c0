"""Operations: the metrics every process counts and the one-line JSON log format (docs/deploy.md).

A low layer (only ``config`` below it) so that a domain can count what it does — ``verify`` counts its
answers by method and outcome — without knowing who scrapes it.  The HTTP side (``/healthz``, ``/readyz``,
``/metrics``, the request log) is an entry point and lives in :mod:`onshi.web.ops`.
"""
