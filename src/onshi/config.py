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

Receipt signing keys (検証の証明, docs/receipts.md) are Ed25519 keys: ``ONSHI_RECEIPT_KEYS`` (a JSON list from a
secret store) or, when unset, the list ``receipt_keys`` in ``var/keys.json``, created with a first key on first use
and rotated by ``onshi receipt rotate-key``.
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
    receipt_keys: str | None = Field(
        default=None, description="receipt signing keys: JSON list of {kid, d (Ed25519 seed, base64url), created, "
                                  "retired} (docs/receipts.md); default: var/keys.json")
    receipts: bool = Field(default=True, description="sign a receipt for every verification (off only to measure "
                                                      "what signing costs: bench/bench_receipts.py)")
    max_body_bytes: int = Field(
        default=1_048_576, description="largest request body (bytes) on every route but the upload screens; "
                                       "larger: 413 before it is read (docs/hardening.md)")
    max_upload_bytes: int = Field(
        default=268_435_456, description="largest request body (bytes) on the upload screens (/office/intake, "
                                         "/reception/bulk)")
    max_xml_bytes: int = Field(
        default=16_777_216, description="largest OQS XML message (bytes) read over HTTP or from the terminal "
                                        "folder; larger: E0001 before parsing")
    max_xml_depth: int = Field(default=32, description="deepest element nesting of an OQS XML message")
    retry_after_seconds: int = Field(default=5, description="Retry-After of the 503 a database outage gives")
    bench_endpoint: bool = Field(default=False, description="serve GET /bench/fixed, the benchmark's baseline "
                                                            "(bench/ turns it on)")
    # ---- sign-in, sessions and rate limits (docs/auth.md)
    cookie_secure: bool = Field(
        default=True, description="the session cookie is Secure and named __Host-onshi_session (served over HTTPS); "
                                  "the demo, the sandbox and tests over plain http set ONSHI_COOKIE_SECURE=0")
    redis_url: str | None = Field(default=None, description="Redis for rate-limit counts shared by every worker "
                                                            "(redis://host:6379/0); in-process counts without it")
    redis_key_prefix: str = Field(default="onshi-limits", description="prefix of onshi's keys in that Redis")
    rate_limit_enabled: bool = Field(default=True, description="request-rate limits on sign-in and verification")
    rate_limit_verify_per_token: str = Field(
        default="3000/minute;100000/hour", description="verification requests per institution token")
    rate_limit_verify_per_address: str = Field(
        default="6000/minute;200000/hour", description="verification requests per source address")
    rate_limit_bad_token_per_address: str = Field(
        default="30/minute;300/hour", description="refused (401) credentials per source address")
    rate_limit_login_per_address: str = Field(default="30/minute;300/hour",
                                              description="POST /login per source address")
    login_free_failures: int = Field(default=3, description="wrong passwords in a row before the delay starts")
    login_delay_base_seconds: float = Field(default=2.0, description="first delay; doubles with each failure")
    login_delay_max_seconds: float = Field(default=60.0, description="the longest delay between sign-in attempts")
    host: str = "127.0.0.1"
    port: int = 8000
    # Serving tier and operations (docs/deploy.md, docs/scaling.md)
    read_database_url: str | None = Field(
        default=None, description="a streaming replica the verification endpoints read the index from (their log "
                                  "and audit rows, and every staff read and write, use ONSHI_DATABASE_URL)")
    version_cache: bool = Field(
        default=True, description="PostgreSQL: keep the people a repeat check's numbers match per process, current "
                                  "by LISTEN/NOTIFY, so that a 304 reads nothing (off with a read replica; "
                                  "docs/receipts.md)")
    read_max_lag_seconds: float = Field(default=30.0, description="/readyz answers 503 while the read replica's "
                                                                  "replay lags more than this")
    broker_url: str | None = Field(default=None, description="AMQP URL of the task broker (RabbitMQ); /readyz "
                                                              "checks it when set")
    task_queue: str = Field(default="onshi", description="the broker queue the batch tasks are sent to and "
                                                         "`onshi worker` consumes (docs/batch.md)")
    task_wait_seconds: float = Field(default=120.0, description="how long a batch run's starter waits with the "
                                                                "broker unreachable, or with no worker consuming its "
                                                                "queue and nothing done, before the run is marked "
                                                                "failed (resumable) — docs/batch.md")
    log_format: str = Field(default="text", description="`json`: the server logs one JSON object per line to "
                                                        "stderr, one line per request")
    publisher_lease_seconds: float = Field(
        default=5.0, description="PostgreSQL: a publisher leader silent this long (dead, frozen, cut off) loses "
                                 "the lead; another takes over (docs/deploy.md)")

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

    def receipt_key_list(self) -> list[dict]:
        """The receipt signing keys, oldest first (docs/receipts.md): ``ONSHI_RECEIPT_KEYS`` or the list in
        ``var/keys.json`` (empty until :mod:`onshi.verify.receipts` makes the first one)."""
        if self.receipt_keys:
            return json.loads(self.receipt_keys)
        return list(self._keyfile().get("receipt_keys") or [])

    def save_receipt_keys(self, ring: list[dict]) -> None:
        """Write the receipt keys into ``var/keys.json`` beside the other keys (atomically; mode 0600)."""
        if self.receipt_keys:
            raise ValueError("ONSHI_RECEIPT_KEYS is set: change the keys in the secret store that holds them")
        keys = {**self._keyfile(), "receipt_keys": ring}
        path = self.var_dir / "keys.json"
        tmp = path.with_suffix(".json.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(keys, fh)
        os.replace(tmp, path)

    def key_bytes(self, name: str) -> bytes:
        value = getattr(self, name) or self._keyfile()[name]
        raw = base64.urlsafe_b64decode(value)
        if len(raw) != 32:
            raise ValueError(f"ONSHI_{name.upper()} must be 32 bytes in URL-safe base64")
        return raw


@lru_cache
def get_settings() -> Settings:
    return Settings()
