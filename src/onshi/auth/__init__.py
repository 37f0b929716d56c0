"""Who is asking: staff users and their roles (``users``, ``models``), sign-in sessions and CSRF (``sessions``),
institution credentials and the request-scoped database session for routes (``deps``).

Every domain's routes (``*/views.py``) import from here; nothing here imports a route module or ``onshi.web``.
"""
