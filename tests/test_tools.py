"""tools/: the committed OpenAPI subset keeps the operations used with their whole ``$ref`` closure and
nothing else, and each generator's ``--check`` tells a stale file from a current one."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TOOLS = Path(__file__).resolve().parents[1] / "tools"


def load(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(TOOLS))  # as `python tools/NAME.py` sees its helpers
    spec = importlib.util.spec_from_file_location(name, TOOLS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if name == "gen_openapi_subset":
        module.OPERATIONS = {"/prospects": ("get",), "/prospects/{id}": ("get", "patch")}  # what DOCUMENT offers
    return module


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "servers": [{"url": "https://x/api/v2"}],
    "paths": {
        "/prospects": {"get": {"responses": {"200": {"content": {"a": {"schema": ref("list")}}}}},
                       "post": {"responses": {"201": {"content": {"a": {"schema": ref("created")}}}}}},
        "/prospects/{id}": {"parameters": [{"name": "id", "in": "path"}],
                            "get": {"responses": {"200": {"content": {"a": {"schema": ref("one")}}}}},
                            "patch": {"responses": {"200": {"content": {"a": {"schema": ref("one")}}}}},
                            "delete": {"responses": {"204": {}}}},
        "/accounts": {"get": {"responses": {"200": {"content": {"a": {"schema": ref("account")}}}}}},
    },
    "components": {
        "schemas": {"list": {"items": ref("one")}, "one": {"properties": {"p": ref("prospect")}},
                    "prospect": {"properties": {"r": ref("relationships")}}, "relationships": {"type": "object"},
                    "created": {"type": "object"}, "account": {"type": "object"}},
        "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
    },
}


def test_the_subset_is_the_operations_used_and_their_ref_closure(monkeypatch: pytest.MonkeyPatch) -> None:
    subset = load("gen_openapi_subset", monkeypatch).subset(DOCUMENT)

    assert {path: sorted(item) for path, item in subset["paths"].items()} == {
        "/prospects": ["get"], "/prospects/{id}": ["get", "parameters", "patch"]}
    assert sorted(subset["components"]["schemas"]) == ["list", "one", "prospect", "relationships"]
    assert subset["components"]["securitySchemes"] == DOCUMENT["components"]["securitySchemes"]
    assert subset["servers"] == DOCUMENT["servers"]


@pytest.mark.parametrize("name", ["gen_openapi_subset", "gen_catalog"])
def test_check_fails_on_a_stale_file_and_passes_on_a_fresh_one(name: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    tool = load(name, monkeypatch)
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(DOCUMENT), encoding="utf-8")
    monkeypatch.setattr(tool, "OUTPUT", tmp_path / "subset.json")

    assert tool.main(["gen", str(document), "--check"]) == 1  # missing
    assert tool.main(["gen", str(document)]) == 0
    assert tool.main(["gen", str(document), "--check"]) == 0
    changed = json.loads(json.dumps(DOCUMENT))
    changed["components"]["schemas"]["prospect"]["properties"]["title"] = {"type": "string", "maxLength": 255}
    document.write_text(json.dumps(changed), encoding="utf-8")
    assert tool.main(["gen", str(document), "--check"]) == 1
    assert "is stale" in capsys.readouterr().err
