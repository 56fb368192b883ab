"""The two datasette meta-tests: every hook has a test, and every hook is documented exactly."""

import inspect
import re
from pathlib import Path

import pytest

from neuronkit import hookspecs

HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("neuronkit_"))
DOCS = (Path(__file__).resolve().parents[2] / "docs" / "plugin-hooks.md").read_text()
TESTS = "\n".join(p.read_text() for p in Path(__file__).resolve().parents[1].rglob("test_*.py"))


def test_there_are_hooks():
    assert HOOKS == ["neuronkit_backends", "neuronkit_claim_model", "neuronkit_export_formats",
                     "neuronkit_register_commands"]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    assert re.search(rf"^def test_hook_{hook}\b", TESTS, re.M), f"write a test named test_hook_{hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook):
    signature = f"{hook}{inspect.signature(getattr(hookspecs, hook))}".replace("'", "")
    assert f"## {signature}" in DOCS, f"docs/plugin-hooks.md needs a heading '## {signature}'"
