"""Run a callback right after a module is first imported, before the importer sees it.

wrapt offers the same (``register_post_import_hook``), but importing wrapt 2 at interpreter
start-up pulls in asyncio and importlib.metadata, about 85 ms measured here; this finder
uses only what ``site`` has already imported, so ``MODELTEL_ENABLED=1`` stays cheap for
every process that never imports the hooked libraries.
"""

from __future__ import annotations  # annotations stay text: typing is not imported at start-up

import sys
from types import ModuleType

TYPE_CHECKING = False  # recognised by type checkers, costs no import
if TYPE_CHECKING:
    from collections.abc import Callable

    Hook = Callable[[ModuleType], None]


class _LoaderRunningHooks:
    """Wraps a module's loader so the hooks run as soon as the module body has executed."""

    def __init__(self, loader: object, hooks: list[Hook]) -> None:
        self._loader = loader
        self._hooks = hooks

    def __getattr__(self, name: str) -> object:  # resource readers and the like
        return getattr(self._loader, name)

    def create_module(self, spec: object) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        for hook in self._hooks:
            hook(module)


class _PostImportFinder:
    """A ``sys.meta_path`` entry that only ever answers for the module names it watches."""

    def __init__(self) -> None:
        self.hooks: dict[str, list[Hook]] = {}

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname not in self.hooks:
            return None
        spec = None
        for finder in sys.meta_path:  # what importlib would do next, without this finder
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None:
            return None
        spec.loader = _LoaderRunningHooks(spec.loader, self.hooks.pop(fullname))
        return spec


_finder = _PostImportFinder()


def when_imported(module_name: str, hook: Hook) -> None:
    """Call ``hook(module)`` once ``module_name`` is imported; at once if it already is."""
    module = sys.modules.get(module_name)
    if module is not None:
        hook(module)
        return
    _finder.hooks.setdefault(module_name, []).append(hook)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
