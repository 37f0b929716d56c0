"""An independent FHIR R4 validator for the tests: FHIR.js (npm ``fhir``, lantanagroup), not ``fhir.resources``.

:func:`start` installs the package with npm into a temporary folder and keeps one ``node`` process that reads a
resource per line and answers ``{"valid": …, "messages": […]}`` per line.  FHIR.js checks each element against
the R4 StructureDefinitions it ships: unknown elements (``errorOnUnexpected``), cardinalities, primitive formats,
code bindings to required value sets, contained resources and Bundle entries.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

FHIR_JS = "fhir@4.12.0"

_SCRIPT = r"""
const {Fhir} = require('fhir');
const fhir = new Fhir();
const rl = require('readline').createInterface({input: process.stdin});
rl.on('line', line => {
  let out;
  try { out = fhir.validate(JSON.parse(line), {errorOnUnexpected: true}); }
  catch (e) { out = {valid: false, messages: [{severity: 'error', message: 'validator threw: ' + e}]}; }
  process.stdout.write(JSON.stringify(out) + '\n');
});
"""


class Validator:
    def __init__(self, folder: Path) -> None:
        (folder / "validate.js").write_text(_SCRIPT)
        self.proc = subprocess.Popen(["node", "validate.js"], cwd=folder, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, encoding="utf-8")

    def errors(self, resource: dict) -> list[str]:
        """The validator's error messages (warnings left out) for one resource."""
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(resource, ensure_ascii=False) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        return [f"{m.get('location')}: {m.get('message')}" for m in out.get("messages", [])
                if m.get("severity") == "error"]

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def start(folder: Path) -> Validator | str:
    """The validator, or the reason it cannot run (node/npm missing, npm registry unreachable)."""
    if not shutil.which("node") or not shutil.which("npm"):
        return "node/npm not installed"
    run = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(folder), FHIR_JS],
                         capture_output=True, text=True, timeout=300)
    if run.returncode != 0:
        return f"npm install {FHIR_JS} failed: {run.stderr.strip()[-300:]}"
    return Validator(folder)
