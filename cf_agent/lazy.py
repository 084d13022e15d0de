"""Package names imported on first use (PEP 562), so that importing a package, or a light module
inside it, loads none of its heavy modules."""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A package's `__getattr__`: `exports` maps each name to the module that defines it."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = import_module(exports[name])
        # Loading a submodule binds its name in the package (eval.evaluate): the export wins.
        found = {n: getattr(module, n) for n, m in exports.items() if m == module.__name__}
        vars(sys.modules[package]).update(found)
        return found[name]

    return __getattr__
