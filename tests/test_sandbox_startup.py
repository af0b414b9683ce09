"""Start-up refusals of the sandbox (bad --types and --seed files) through its command line, and the rule
that the sandbox package runs without the faces."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from outreach_tui.sandbox import Sandbox, SandboxConfig, SandboxError

GOOD_RULE = {"type": "numerical", "required": False, "label": "Score", "definition": None}


def run_command(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "outreach_tui", "sandbox", "--port", "0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def types_body(object_type: str = "prospect", name: str = "custom3", **rule: Any) -> dict[str, Any]:
    return {"data": [{"type": object_type, "meta": {"validations": {name: {**GOOD_RULE, **rule}}}}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "cannot read the types file"),
        ({"validations": {}}, 'expected {"data"'),
        (types_body(object_type="Prospect"), "'Prospect' is not an object with custom fields"),
        (types_body(type="Numerical"), "'Numerical' is not one of"),
        (types_body(type="dateTime"), "'dateTime' is not one of"),
        (types_body(name="Custom3"), "field names are customN"),
        (types_body(name="custom151"), "custom1 to custom150"),
        (types_body(type="inclusion", definition="a,b"), "needs a list of option strings"),
        (types_body(required="no"), "required: expected true or false"),
    ],
)
def test_invalid_types_file_refuses_to_start_with_exit_2(tmp_path: Path, body: Any, message: str) -> None:
    path = tmp_path / "types.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    done = run_command("--prospects", "1", "--types", str(path))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and str(path) in done.stderr
    assert "Traceback" not in done.stderr and "listening" not in done.stdout


def test_valid_types_file_in_the_documents_casing_is_served(tmp_path: Path) -> None:
    body = types_body(name="custom10", type="multi_inclusion", definition=["a", "b"])
    body["data"].append({"type": "opportunityLineItem", "meta": {"validations": {"custom2": GOOD_RULE}}})
    with Sandbox(SandboxConfig(port=0, prospects=1)) as sb:
        sb.set_types(body)
        assert sb.state.types_body == body and sb.state.validator.types[10].validation_type == "multi_inclusion"


@pytest.mark.parametrize("bad_id", [2**70, -1, 0, True, 1.5, "12x", None])
def test_seed_id_outside_64_bits_or_not_an_integer_is_refused(tmp_path: Path, bad_id: Any) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"prospects": [{"id": 1}, {"id": bad_id, "attributes": {}}]}))
    with pytest.raises(SandboxError, match=r"prospects\[1\]: 'id' must be an integer from 1 to"):
        Sandbox(SandboxConfig(port=0, seed=seed))


def test_seed_id_of_2_to_the_70_exits_2_without_a_traceback(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"prospects": [{"id": 2**70}]}))
    done = run_command("--seed", str(seed))
    assert done.returncode == 2
    assert "'id' must be an integer from 1 to 9,223,372,036,854,775,807" in done.stderr
    assert "Traceback" not in done.stderr and "OverflowError" not in done.stderr


def test_the_sandbox_package_starts_without_the_faces() -> None:
    """The sandbox package must not import commands/, tui/ or export/ (core only)."""
    probe = (
        "import sys, importlib, pkgutil, outreach_tui.sandbox as sb; "
        "[importlib.import_module(m.name) for m in pkgutil.iter_modules(sb.__path__, 'outreach_tui.sandbox.')]; "
        "bad = sorted(m for m in sys.modules if m.split('.')[:2] in "
        "(['outreach_tui', 'commands'], ['outreach_tui', 'tui'], ['outreach_tui', 'export']) or m == 'textual'); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr


def test_command_registers_extra_redirect_uris_and_joins_scopes_as_asked() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    extra = "http://127.0.0.1:45678/callback"
    cmd = [sys.executable, "-m", "outreach_tui", "sandbox", "--port", "0", "--prospects", "1",
           "--redirect-uri", extra, "--scope-separator", "space", "--import-delay", "0"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        while len(lines) < 30 and not (lines and lines[-1].startswith("Prospects:")):
            lines.append(proc.stdout.readline())
        base = lines[0].rsplit(" ", 1)[1].strip()
        assert 'redirect_uri = "http://127.0.0.1:8976/callback"\n' in lines
        registered = next(line for line in lines if line.startswith("Registered redirect URIs"))
        assert "http://127.0.0.1:8976/callback" in registered and extra in registered
        params = {"client_id": "outreach-tui-sandbox", "redirect_uri": extra, "response_type": "code", "scope": "a"}
        assert httpx.get(base + "/oauth/authorize", params=params, timeout=5).status_code == 200
        params["redirect_uri"] = "http://127.0.0.1:45679/callback"
        assert httpx.get(base + "/oauth/authorize", params=params, timeout=5).status_code == 400
        token = httpx.post(base + "/_sandbox/tokens", json={"scopes": ["b.read", "a.read"]}, timeout=5).json()
        assert token["scope"] == "a.read b.read"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
