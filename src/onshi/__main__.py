"""``python -m onshi`` — the same as the ``onshi`` command."""

from onshi.cli import main

main()
