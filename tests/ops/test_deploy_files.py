"""The deployment files, checked without a container engine (docker here has no daemon and no compose plugin,
so ``docker compose config`` cannot run): compose.yaml, after interpolation as Compose does it, against the
Compose Specification's own JSON schema (tests/ops/compose-spec.json, from compose-spec/compose-spec at
170098ba, Apache-2.0), and what the deployment needs of it; the Dockerfile's shape.  docs/deploy.md."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = Path(__file__).with_name("compose-spec.json")
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value, env: dict[str, str]):
    """Compose's variable interpolation: ``${X}``, ``${X:-default}``, ``${X-default}``, ``${X:?error}``, ``$$``."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4)
        op, arg = m.group(2), m.group(3)
        have = env.get(name)
        if op in (":-", "-"):
            return have if (have if op == ":-" else have is not None) else arg
        if op in (":?", "?"):
            if not have:
                raise ValueError(f"required variable {name} is missing: {arg}")
            return have
        return have or ""

    return _VAR.sub(one, value)


def load_compose(env: dict[str, str]) -> dict:
    raw = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return interpolate(raw, env)


SECRETS = {"ONSHI_MY_NUMBER_KEY": "k" * 43 + "=", "ONSHI_MY_NUMBER_HASH_KEY": "h" * 43 + "=",
           "ONSHI_SESSION_SECRET": "s" * 43 + "="}


def resolved(env=SECRETS) -> dict:
    """The file as ``docker compose config`` would give it: interpolated, YAML anchors and merge keys applied."""
    doc = load_compose(env)
    for svc in doc["services"].values():  # numbers Compose converts from strings (deploy.replicas)
        if "deploy" in svc and "replicas" in svc["deploy"]:
            svc["deploy"]["replicas"] = int(svc["deploy"]["replicas"])
    return doc


def test_compose_file_is_valid_against_the_compose_specification():
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))
    validator.validate(resolved())
    # and a broken file is refused by the same check (the check sees): a misspelt key, a wrong condition
    broken = resolved()
    broken["services"]["api"]["replica"] = 3
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)
    broken = resolved()
    broken["services"]["api"]["depends_on"]["migrate"]["condition"] = "service_done"
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)


def test_compose_refuses_to_start_without_the_secrets():
    with pytest.raises(ValueError, match="ONSHI_MY_NUMBER_KEY"):
        load_compose({})


def test_compose_runs_the_whole_system():
    services = resolved()["services"]
    assert {"api", "publisher", "postgres", "rabbitmq", "migrate"} <= set(services)
    assert services["api"]["deploy"]["replicas"] >= 2 and services["publisher"]["deploy"]["replicas"] == 2
    migrate = services["migrate"]
    assert migrate["command"] == ["onshi", "db", "upgrade"] and migrate["restart"] == "no"
    for name in ("api", "publisher"):
        deps = services[name]["depends_on"]
        assert deps["migrate"] == {"condition": "service_completed_successfully"}
        assert deps["postgres"] == {"condition": "service_healthy"}
        env = services[name]["environment"]
        assert env["ONSHI_DATABASE_URL"].startswith("postgresql+psycopg://onshi:onshi@postgres:5432/")
        assert env["ONSHI_MY_NUMBER_KEY"] == SECRETS["ONSHI_MY_NUMBER_KEY"]
    assert services["publisher"]["command"][:3] == ["onshi", "exchange", "publisher"]
    assert "--publish-every 0" in services["api"]["command"][-1]  # the publisher is its own service
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_every_onshi_variable_in_the_deployment_is_a_setting():
    from tests.ops.test_settings_doc import documented

    names = set()
    for svc in resolved()["services"].values():
        names |= {k for k in svc.get("environment", {}) if k.startswith("ONSHI_")}
    names |= set(re.findall(r"\bONSHI_[A-Z0-9_]+", (ROOT / "Dockerfile").read_text()))
    assert names and names <= documented()


def test_dockerfile_installs_the_package_and_runs_as_a_plain_user():
    text = (ROOT / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(f == "python:3.11-slim" for f in froms)
    assert re.search(r"pip install \.", text)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "onshi serve --workers" in text and "PROMETHEUS_MULTIPROC_DIR" in text
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".venv" in ignored and "var" in ignored and ".git" in ignored
