"""The one command-line tool, ``onshi``.  Each domain adds its commands here."""

from __future__ import annotations

import typer

from onshi.registry.cli import register as register_registry

app = typer.Typer(help="onshi — オンライン資格確認 and the insurer work around it.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
register_registry(app)

for _module in ("onshi.demo.cli", "onshi.exchange.cli", "onshi.verify.cli", "onshi.documents.cli",
                "onshi.analytics.cli", "onshi.web.cli"):
    try:
        _mod = __import__(_module, fromlist=["register"])
    except ModuleNotFoundError as exc:  # a domain not built yet
        if exc.name != _module:
            raise
        continue
    _mod.register(app)


if __name__ == "__main__":  # pragma: no cover
    app()
