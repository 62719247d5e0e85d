import importlib
import sys
from pathlib import Path
from types import ModuleType

import pytest

from modeltel.agent.import_hooks import when_imported


@pytest.fixture
def module_dir(tmp_path: Path):
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [n for n in sys.modules if n.startswith("hooked_")]:
        del sys.modules[name]


def test_hook_runs_after_the_module_body_and_before_the_importer_sees_it(module_dir: Path) -> None:
    (module_dir / "hooked_plain.py").write_text("VALUE = 1\n")
    seen: list[int] = []

    def hook(module: ModuleType) -> None:
        seen.append(module.VALUE)
        module.VALUE = 2

    when_imported("hooked_plain", hook)
    module = importlib.import_module("hooked_plain")
    assert seen == [1]
    assert module.VALUE == 2
    assert type(module.__loader__).__name__ == "SourceFileLoader"  # the real loader, not our wrapper


def test_hook_for_an_imported_module_runs_at_once_and_only_once(module_dir: Path) -> None:
    (module_dir / "hooked_pkg").mkdir()
    (module_dir / "hooked_pkg" / "__init__.py").write_text("NAME = 'pkg'\n")
    (module_dir / "hooked_pkg" / "data.txt").write_text("resource")
    calls: list[str] = []
    when_imported("hooked_pkg", lambda module: calls.append(module.NAME))
    import hooked_pkg  # noqa: F401

    when_imported("hooked_pkg", lambda module: calls.append("late"))
    importlib.import_module("hooked_pkg")
    assert calls == ["pkg", "late"]
    from importlib.resources import files

    assert (files("hooked_pkg") / "data.txt").read_text() == "resource"


def test_watching_a_missing_module_changes_nothing(module_dir: Path) -> None:
    when_imported("hooked_absent", lambda module: None)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("hooked_absent")
