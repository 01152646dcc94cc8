"""``cairn.autolog()``: log every Lightning, Hugging Face and Keras training run to Cairn
without changing the training code.

::

    import cairn
    cairn.autolog()          # ['lightning', 'transformers', 'keras'] (those installed)
    ...
    cairn.autolog(disable=True)

* Lightning (``lightning`` and ``pytorch_lightning``): ``Trainer(...)`` without a ``logger``
  argument (or with ``logger=True``) gets a :class:`~cairn.integrations.lightning.CairnLogger`
  instead of the default TensorBoard/CSV logger. An explicit logger is left alone.
* Hugging Face ``transformers``: every ``Trainer`` gets a
  :class:`~cairn.integrations.transformers.CairnCallback` unless it already has one.
* Keras: every ``Model.fit`` call gets a
  :class:`~cairn.integrations.keras.CairnKerasCallback` unless it already has one.

Nothing is imported to find out what is installed (``importlib.util.find_spec``), and a
framework that is not imported yet is patched when it is first imported, so ``autolog()`` costs
nothing for frameworks a script never uses and never imports torch or TensorFlow itself.
Calling it again is harmless; ``disable=True`` restores the frameworks' own methods.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

log = logging.getLogger("cairn")

# Which module holds the class to patch, per framework name.
_TARGETS: dict[str, tuple[str, ...]] = {
    "lightning": ("lightning.pytorch.trainer.trainer", "pytorch_lightning.trainer.trainer"),
    "transformers": ("transformers.trainer",),
    "keras": ("keras",),
}
# The top-level packages whose presence enables a framework.
_PACKAGES: dict[str, tuple[str, ...]] = {
    "lightning": ("lightning", "pytorch_lightning"),
    "transformers": ("transformers",),
    "keras": ("keras",),
}

_lock = threading.RLock()
_pending: dict[str, Callable[[ModuleType], None]] = {}  # module name -> patch to apply on import
_patches: list[tuple[type, str, bool, Any]] = []  # (class, attribute, had its own, original)
_MARK = "__cairn_autolog__"


def _installed(package: str) -> bool:
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


def autolog(
    *,
    lightning: bool = True,
    transformers: bool = True,
    keras: bool = True,
    disable: bool = False,
) -> list[str]:
    """Adds Cairn's logger/callback to the frameworks asked for that are installed and returns
    their names (``[]`` when none is). ``disable=True`` removes everything autolog added and
    returns ``[]``."""
    with _lock:
        if disable:
            _disable()
            return []
        wanted = {"lightning": lightning, "transformers": transformers, "keras": keras}
        enabled = []
        for framework, on in wanted.items():
            if not on:
                continue
            pairs = zip(_PACKAGES[framework], _TARGETS[framework], strict=True)
            modules = [module for package, module in pairs if _installed(package)]
            if not modules:
                continue
            for module in modules:
                _when_imported(module, _PATCHERS[module])
            enabled.append(framework)
        return enabled


# ----- patches -----


def _patch(cls: type, attribute: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replaces ``cls.attribute`` by ``make(original)`` once."""
    current = getattr(cls, attribute)
    if getattr(current, _MARK, False):
        return
    had_own = attribute in cls.__dict__
    original = cls.__dict__[attribute] if had_own else None
    wrapper = make(current)
    setattr(wrapper, _MARK, True)
    setattr(cls, attribute, wrapper)
    _patches.append((cls, attribute, had_own, original))


def _disable() -> None:
    _pending.clear()
    while _patches:
        cls, attribute, had_own, original = _patches.pop()
        if had_own:
            setattr(cls, attribute, original)
        else:
            try:
                delattr(cls, attribute)
            except AttributeError:
                pass


def _patch_lightning(module: ModuleType, package: str) -> None:
    def make(init: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            logger = kwargs.get("logger")
            if (logger is None or logger is True) and not kwargs.get("barebones"):
                from .integrations.lightning import logger_class

                kwargs["logger"] = logger_class(package)()
            init(self, *args, **kwargs)

        return __init__

    _patch(module.Trainer, "__init__", make)


def _patch_transformers(module: ModuleType) -> None:
    def make(init: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            init(self, *args, **kwargs)
            from .integrations.transformers import CairnCallback

            handler = getattr(self, "callback_handler", None)
            callbacks = getattr(handler, "callbacks", [])
            if not any(isinstance(c, CairnCallback) for c in callbacks):
                self.add_callback(CairnCallback())

        return __init__

    _patch(module.Trainer, "__init__", make)


_FIT_CALLBACKS_POSITION = 5  # fit(x, y, batch_size, epochs, verbose, callbacks, ...)


def _with_callback(callbacks: Any) -> Any:
    from .integrations.keras import CairnKerasCallback

    if callbacks is None:
        return [CairnKerasCallback()]
    if not isinstance(callbacks, (list, tuple)):  # a CallbackList: the caller manages it
        return callbacks
    if any(isinstance(c, CairnKerasCallback) for c in callbacks):
        return callbacks
    return [*callbacks, CairnKerasCallback()]


def _patch_keras(module: ModuleType) -> None:
    model = getattr(module, "Model", None)
    if model is None:
        return

    def make(fit: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fit)
        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            if len(args) > _FIT_CALLBACKS_POSITION:
                args = (
                    *args[:_FIT_CALLBACKS_POSITION],
                    _with_callback(args[_FIT_CALLBACKS_POSITION]),
                    *args[_FIT_CALLBACKS_POSITION + 1 :],
                )
            else:
                kwargs["callbacks"] = _with_callback(kwargs.get("callbacks"))
            return fit(self, *args, **kwargs)

        return wrapped

    _patch(model, "fit", make)


_PATCHERS: dict[str, Callable[[ModuleType], None]] = {
    "lightning.pytorch.trainer.trainer": lambda m: _patch_lightning(m, "lightning"),
    "pytorch_lightning.trainer.trainer": lambda m: _patch_lightning(m, "pytorch_lightning"),
    "transformers.trainer": _patch_transformers,
    "keras": _patch_keras,
}


# ----- patching on import -----


def _apply(name: str, module: ModuleType, patch: Callable[[ModuleType], None]) -> None:
    try:
        patch(module)
    except Exception:  # noqa: BLE001 — never break the user's import
        log.exception("cairn.autolog: could not patch %s", name)


def _when_imported(name: str, patch: Callable[[ModuleType], None]) -> None:
    """Applies ``patch`` to module ``name`` now if it is imported, else right after its import."""
    module = sys.modules.get(name)
    if module is not None:
        _apply(name, module, patch)
        return
    _pending[name] = patch
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


class _Finder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: for a module with a pending patch it asks the other finders and
    wraps the loader so that the patch runs once the module has executed."""

    def __init__(self) -> None:
        self._busy = threading.local()

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _pending or getattr(self._busy, "name", None) == fullname:
            return None
        self._busy.name = fullname
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.name = None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader, fullname)
        return spec


class _Loader(importlib.abc.Loader):
    """Runs the real loader, puts it back on the module, then applies the pending patch."""

    def __init__(self, loader: Any, name: str):
        self._loader = loader
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        spec = module.__spec__
        if spec is not None:
            spec.loader = self._loader
        module.__loader__ = self._loader
        self._loader.exec_module(module)
        with _lock:
            patch = _pending.pop(self._name, None)
        if patch is not None:
            _apply(self._name, module, patch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)
