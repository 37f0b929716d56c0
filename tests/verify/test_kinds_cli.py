"""``onshi institution add --kind`` and ``onshi analytics credentials``, run as a person runs them (a subprocess,
a SQLite database made by ``onshi db upgrade`` — so migration 0018 too)."""

from __future__ import annotations

from tests.test_cli import _env, one_line, onshi_cmd


def test_the_kind_is_registered_listed_and_a_wrong_one_refused_in_one_line(tmp_path):
    env = _env(tmp_path / "data")
    assert onshi_cmd("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    res = onshi_cmd("institution", "add", "1310000029", "オンシ接骨院", "--facility-type", "clinic", "--kind",
                    "limited", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert "資格確認限定型" in res.stdout and "token:" in res.stdout
    res = onshi_cmd("institution", "add", "1310000037", "オンシ訪問", "--facility-type", "clinic", "--kind",
                    "home-visit", cwd=tmp_path, env=env)
    assert res.returncode == 0 and "居宅同意取得型" in res.stdout, res.stderr
    listed = onshi_cmd("institution", "list", cwd=tmp_path, env={**env, "COLUMNS": "200"})
    assert "limited" in listed.stdout and "home_visit" in listed.stdout
    one_line(onshi_cmd("institution", "add", "1310000045", "x", "--facility-type", "clinic", "--kind", "mobile",
                       cwd=tmp_path, env=env), 2, "--kind mobile")
    listed = onshi_cmd("institution", "list", cwd=tmp_path, env={**env, "COLUMNS": "200"})
    assert "1310000045" not in listed.stdout  # nothing half-applied
    res = onshi_cmd("analytics", "credentials", cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stderr
    assert "スマホ" in res.stdout
