"""Settings, read from the environment (``ONSHI_*``) and an optional ``.env`` file.

The embedded default is the SQLite file ``onshi.sqlite3`` in the data folder ``ONSHI_VAR_DIR`` (default
``./var``, relative to the folder the command runs in); production sets ``ONSHI_DATABASE_URL`` to a PostgreSQL URL
(``postgresql+psycopg://…``).  Only ``onshi db upgrade`` and ``onshi demo …`` create the SQLite file; every other
command refuses, naming the absolute path it looked at, when it is missing (docs/cli.md).

Keys for My Number protection (個人番号の暗号化・鍵付きハッシュ) come from
``ONSHI_MY_NUMBER_KEY`` and ``ONSHI_MY_NUMBER_HASH_KEY`` (32 bytes each,
URL-safe base64).  When they are not set, onshi creates them once in
``var/keys.json`` (mode 0600) so that a demo installation is safe by default;
a production deployment must supply its own keys from a secret store.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONSHI_", env_file=".env", extra="ignore")

    var_dir: Path = Field(default=Path("var"), description="where the embedded database, keys and outputs live "
                                                        "(relative: to the current folder)")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default sqlite:///<var_dir>/onshi.sqlite3")
    my_number_key: str | None = Field(default=None, description="AES-256-GCM key for My Number at rest (base64)")
    my_number_hash_key: str | None = Field(default=None, description="HMAC-SHA256 key for the My Number lookup hash (base64)")
    session_secret: str | None = Field(default=None, description="secret for signed web sessions")
    intake_set_based_references: bool = Field(
        default=True, description="bulk 資格取得届 on PostgreSQL: prove references once per chunk instead of per-row "
                                  "foreign-key triggers, where the role may (docs/intake.md)")
    intake_parallel_min_bytes: int = Field(
        default=4_000_000, description="資格取得届 files at least this large are read by a second process on "
                                       "PostgreSQL (docs/intake.md)")
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def resolved_database_url(self) -> str:
        """The configured URL, or the SQLite file in :attr:`var_dir`.  Creates nothing: the file is made only by
        :func:`onshi.store.migrate.upgrade`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'onshi.sqlite3').as_posix()}"

    def _keyfile(self) -> dict[str, str]:
        path = self.var_dir / "keys.json"
        if path.exists():
            return json.loads(path.read_text())
        self.var_dir.mkdir(parents=True, exist_ok=True)
        keys = {
            name: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            for name in ("my_number_key", "my_number_hash_key", "session_secret")
        }
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(keys, fh)
        return keys

    def key_bytes(self, name: str) -> bytes:
        value = getattr(self, name) or self._keyfile()[name]
        raw = base64.urlsafe_b64decode(value)
        if len(raw) != 32:
            raise ValueError(f"ONSHI_{name.upper()} must be 32 bytes in URL-safe base64")
        return raw


@lru_cache
def get_settings() -> Settings:
    return Settings()
