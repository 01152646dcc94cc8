"""``cairn.autolog`` and the framework-free helpers of ``cairn.integrations``. The frameworks
themselves are tested by ``scripts/test-integrations``; here stand-in packages check the
patching, so nothing heavy is imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cairn import autolog
from cairn import autologging as autolog_module
from cairn.integrations import config_values, metric_values, safe_key

FRAMEWORKS = ("lightning", "pytorch_lightning", "transformers", "keras")


def test_autolog_without_frameworks_returns_nothing(monkeypatch):
    monkeypatch.setattr(autolog_module, "_installed", lambda package: False)
    assert autolog() == []
    assert autolog(disable=True) == []


def test_autolog_here_enables_only_what_is_installed():
    import importlib.util

    installed = [p for p in FRAMEWORKS if importlib.util.find_spec(p) is not None]
    if installed:
        pytest.skip(f"{', '.join(installed)} installed here")
    assert autolog() == []
    autolog(disable=True)


def test_import_and_autolog_import_no_framework():
    code = "import sys, cairn, cairn.wandb, cairn.integrations; from cairn import autolog; autolog()\n"
    code += f"print(sorted(m for m in ('torch', 'tensorflow', *{FRAMEWORKS!r}) if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


FAKES = {
    "transformers/__init__.py": "class TrainerCallback:\n    pass\n",
    "transformers/trainer.py": """
        class _Handler:
            def __init__(self, callbacks):
                self.callbacks = list(callbacks)

        class Trainer:
            def __init__(self, callbacks=None):
                self.callback_handler = _Handler(callbacks or [])

            def add_callback(self, callback):
                self.callback_handler.callbacks.append(callback)
        """,
    "lightning/__init__.py": "",
    "lightning/pytorch/__init__.py": "",
    "lightning/pytorch/loggers/__init__.py": "from .logger import Logger\n",
    "lightning/pytorch/loggers/logger.py": """
        class Logger:
            pass

        def rank_zero_experiment(fn):
            return fn
        """,
    "lightning/pytorch/utilities/__init__.py": "def rank_zero_only(fn):\n    return fn\n",
    "lightning/pytorch/trainer/__init__.py": "",
    "lightning/pytorch/trainer/trainer.py": """
        class Trainer:
            def __init__(self, *, logger=None, barebones=False):
                self.logger = logger
        """,
    "keras/__init__.py": """
        from . import callbacks

        class Trainer:  # as in Keras 3, fit comes from the backend's trainer class
            def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None):
                return callbacks

        class Model(Trainer):
            pass
        """,
    "keras/callbacks.py": "class Callback:\n    pass\n",
}

CHECK = """
import sys

from cairn import autolog

assert autolog() == ["lightning", "transformers", "keras"], autolog()
assert "transformers.trainer" not in sys.modules, "patched when imported, not before"
assert autolog(keras=False) == ["lightning", "transformers"]  # again: harmless

from cairn.integrations.transformers import CairnCallback
from transformers.trainer import Trainer

kinds = [type(c).__name__ for c in Trainer().callback_handler.callbacks]
assert kinds == ["CairnCallback"], kinds
mine = CairnCallback()
assert Trainer(callbacks=[mine]).callback_handler.callbacks == [mine]

import lightning.pytorch.trainer.trainer as lt

assert type(lt.Trainer().logger).__name__ == "CairnLogger"
assert type(lt.Trainer(logger=True).logger).__name__ == "CairnLogger"
assert lt.Trainer(logger=False).logger is False
assert lt.Trainer(barebones=True).logger is None

import keras

from cairn.integrations.keras import CairnKerasCallback

added = keras.Model().fit([1], [2])
assert [type(c) for c in added] == [CairnKerasCallback]
own = CairnKerasCallback()
assert keras.Model().fit(callbacks=[own]) == [own]
assert len(keras.Model().fit(1, 2, 3, 4, 5, ["x"])) == 2  # callbacks given by position
assert "fit" in keras.Model.__dict__

assert autolog(disable=True) == []
assert Trainer().callback_handler.callbacks == []
assert lt.Trainer().logger is None
assert keras.Model().fit() is None and "fit" not in keras.Model.__dict__

# Already imported: patched at once.
assert autolog(lightning=False, keras=False) == ["transformers"]
assert len(Trainer().callback_handler.callbacks) == 1
print("OK")
"""


def test_autolog_patches_frameworks_on_import(tmp_path: Path):
    for name, text in FAKES.items():
        path = tmp_path / "fakes" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    script = tmp_path / "check.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(tmp_path / 'fakes')!r})\n" + CHECK)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "CAIRN_MODE": "disabled"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK"


def test_safe_keys_and_values():
    assert safe_key("layers[0].weight") == "layers_0_.weight"
    assert safe_key("/a//b/../c/") == "a/b/c"
    assert safe_key("") == "_"
    assert len(safe_key("k" * 400)) == 250
    values = config_values({"opt": {"lr": 0.1, "betas": (0.9, 0.99)}, 3: None, "fn": len, "x": "y" * 7000})
    assert values["opt.lr"] == 0.1 and values["opt.betas"] == (0.9, 0.99)
    assert values["3"] is None and values["fn"] == "len" and len(values["x"]) == 6000
    assert metric_values({"loss": 1, "name": "x", "none": None, "flag": True, "bad key!": 2.0}, "train/") == {
        "train/loss": 1,
        "train/flag": 1.0,
        "train/bad key_": 2.0,
    }
