"""tools/gen_openapi_subset.py: the committed subset keeps the operations used with their whole ``$ref``
closure and nothing else, and ``--check`` tells a stale file from a current one."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "gen_openapi_subset.py"


def load_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_openapi_subset", TOOL)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
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


def test_the_subset_is_the_operations_used_and_their_ref_closure() -> None:
    subset = load_tool().subset(DOCUMENT)

    assert {path: sorted(item) for path, item in subset["paths"].items()} == {
        "/prospects": ["get"], "/prospects/{id}": ["get", "parameters", "patch"]}
    assert sorted(subset["components"]["schemas"]) == ["list", "one", "prospect", "relationships"]
    assert subset["components"]["securitySchemes"] == DOCUMENT["components"]["securitySchemes"]
    assert subset["servers"] == DOCUMENT["servers"]


def test_check_fails_on_a_stale_file_and_passes_on_a_fresh_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    tool = load_tool()
    document = tmp_path / "openapi.json"
    document.write_text(json.dumps(DOCUMENT), encoding="utf-8")
    monkeypatch.setattr(tool, "OUTPUT", tmp_path / "subset.json")

    assert tool.main(["gen", str(document), "--check"]) == 1  # missing
    assert tool.main(["gen", str(document)]) == 0
    assert tool.main(["gen", str(document), "--check"]) == 0
    changed = {**DOCUMENT, "info": {"title": "t", "version": "2"}}
    document.write_text(json.dumps(changed), encoding="utf-8")
    assert tool.main(["gen", str(document), "--check"]) == 1
    assert "is stale" in capsys.readouterr().err
