"""Issue 18 point 6: ``onshi card register`` never takes the My Number from argv (``ps``, shell history); it reads it
from a hidden prompt, standard input or ``--my-number-fd N``."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.test_cli import EXIT_REFUSED, migrated, one_line, onshi_cmd  # noqa: F401 (migrated: a fixture)

NUMBER = "123456789018"
ARGS = ("card", "register", "--serial", "S1", "--expires", "2029-05-31")


def test_a_my_number_in_argv_is_refused_without_repeating_it(migrated):
    cwd, env = migrated
    res = onshi_cmd(*ARGS, "--my-number", NUMBER, cwd=cwd, env=env)
    one_line(res, EXIT_REFUSED, "コマンドライン", "--my-number-fd")
    assert NUMBER not in res.stderr + res.stdout
    assert "--my-number " not in onshi_cmd("card", "register", "--help", cwd=cwd, env=env).stdout


def test_the_number_is_read_from_stdin(migrated):
    cwd, env = migrated
    res = onshi_cmd(*ARGS, cwd=cwd, env=env, stdin=NUMBER + "\n")
    one_line(res, EXIT_REFUSED, "登録されていません")  # it was read and looked up: nobody has it in this database
    assert NUMBER not in res.stderr + res.stdout


def test_the_number_is_read_from_a_file_descriptor(migrated):
    cwd, env = migrated
    r, w = os.pipe()
    os.write(w, (NUMBER + "\n").encode())
    os.close(w)
    try:
        res = subprocess.run([sys.executable, "-m", "onshi", *ARGS, "--my-number-fd", str(r)], cwd=cwd, env=env,
                             stdin=subprocess.DEVNULL, pass_fds=(r,), text=True, capture_output=True, timeout=120)
    finally:
        os.close(r)
    one_line(res, EXIT_REFUSED, "登録されていません")
    assert NUMBER not in res.stderr + res.stdout
    res = onshi_cmd(*ARGS, "--my-number-fd", "97", cwd=cwd, env=env)
    one_line(res, EXIT_REFUSED, "--my-number-fd 97")
