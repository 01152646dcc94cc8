"""``CairnLogger`` on a real Lightning Trainer (a tiny MLP on random tensors, CPU) against a
real server."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pl = pytest.importorskip("lightning.pytorch")

from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import cairn  # noqa: E402
from cairn import autolog  # noqa: E402
from cairn.integrations.lightning import CairnLogger, logger_class  # noqa: E402

STEPS_PER_EPOCH = 8


class TinyModel(pl.LightningModule):
    def __init__(self, lr: float = 0.05, hidden: int = 8, fail_at: int = -1):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def training_step(self, batch, batch_idx):
        if self.global_step == self.hparams.fail_at:
            raise RuntimeError("boom")
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def test_step(self, batch, batch_idx):
        x, y = batch
        self.log("test_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loaders() -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(STEPS_PER_EPOCH * 8, 4, generator=generator)
    data = TensorDataset(x, x.sum(dim=1, keepdim=True))
    return DataLoader(data, batch_size=8), DataLoader(data, batch_size=32)


def trainer(tmp_path, module=pl, **kwargs):
    options = dict(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        log_every_n_steps=2,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
    )
    options.update(kwargs)
    return module.Trainer(**options)


def test_metrics_hyperparams_and_checkpoints(project, tmp_path):
    logger = CairnLogger(name="tiny-mlp", log_model=True, tags=["lightning"])
    checkpoint = pl.callbacks.ModelCheckpoint(monitor="val_loss", save_top_k=1)
    train, val = loaders()
    trainer(tmp_path, logger=logger, callbacks=[checkpoint]).fit(TinyModel(), train, val)

    run = project.only_run()
    assert run.run_id == logger.version == logger.experiment.id
    assert run.name == "tiny-mlp" and run.status == "FINISHED"
    assert run.params == {"lr": "0.05", "hidden": "8", "fail_at": "-1"}
    steps, values = project.history(run.run_id, "train_loss")
    assert steps == list(range(1, 2 * STEPS_PER_EPOCH, 2)), "every 2nd step, at Lightning's global step"
    assert all(v > 0 for v in values)
    assert project.history(run.run_id, "val_loss")[0] == [STEPS_PER_EPOCH - 1, 2 * STEPS_PER_EPOCH - 1]
    assert "epoch" in run.metrics
    best = checkpoint.best_model_path.rsplit("/", 1)[-1]
    assert project.artifacts(run.run_id, "checkpoints") == {f"checkpoints/{best}"}
    assert run.tags["cairn.best_checkpoint"] == f"checkpoints/{best}"
    # Checkpoints went to <default_root_dir>/<project>/<run id>/checkpoints.
    assert f"/{project.name}/{run.run_id}/checkpoints/" in checkpoint.best_model_path


def test_failed_training_marks_the_run_failed(project, tmp_path):
    logger = CairnLogger(prefix="fit")
    train, val = loaders()
    with pytest.raises(RuntimeError, match="boom"):
        trainer(tmp_path, logger=logger).fit(TinyModel(fail_at=5), train, val)
    run = project.only_run()
    assert run.status == "FAILED"
    assert project.history(run.run_id, "fit/train_loss")[0] == [1, 3]


def test_test_after_fit_continues_in_a_new_run(project, tmp_path):
    logger = CairnLogger(name="fit-then-test")
    train, val = loaders()
    t = trainer(tmp_path, logger=logger)
    model = TinyModel()
    t.fit(model, train, val)
    first = logger.experiment.id
    t.test(model, val)
    second = logger.experiment.id
    assert second != first
    runs = {r.run_id: r for r in project.runs()}
    assert set(runs) == {first, second}
    assert runs[second].tags["cairn.continues"] == first and runs[second].name == "fit-then-test"
    assert "test_loss" in runs[second].metrics and "test_loss" not in runs[first].metrics
    assert runs[first].status == runs[second].status == "FINISHED"


def test_logs_into_the_current_run_and_leaves_it_open(project, tmp_path):
    own = cairn.init(name="mine")
    train, val = loaders()
    t = trainer(tmp_path, logger=CairnLogger())
    t.fit(TinyModel(), train, val)
    t.validate(TinyModel(), val)
    assert not own._finished
    own.finish()
    run = project.only_run()
    assert run.run_id == own.id and run.status == "FINISHED"
    assert len(project.history(own.id, "val_loss")[0]) == 3


def test_autolog_replaces_the_default_logger(project, tmp_path):
    assert "lightning" in autolog(transformers=False, keras=False)
    t = trainer(tmp_path)
    assert isinstance(t.logger, CairnLogger)
    assert not isinstance(trainer(tmp_path, logger=False).logger, CairnLogger)
    train, val = loaders()
    t.fit(TinyModel(hidden=4), train, val)
    run = project.only_run()
    assert run.status == "FINISHED" and run.params["hidden"] == "4"
    autolog(disable=True)
    assert not isinstance(trainer(tmp_path).logger, CairnLogger)


def test_pytorch_lightning_package(project, tmp_path):
    ptl = pytest.importorskip("pytorch_lightning")
    logger = logger_class("pytorch_lightning")(name="ptl")
    assert isinstance(logger, ptl.loggers.Logger)

    class Model(ptl.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(4, 1)

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = nn.functional.mse_loss(self.layer(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

    train, _ = loaders()
    trainer(tmp_path, module=ptl, logger=logger, max_epochs=1).fit(Model(), train)
    run = project.only_run()
    assert run.name == "ptl" and run.status == "FINISHED"
    assert project.history(run.run_id, "loss")[0] == [1, 3, 5, 7]


def test_autolog_before_import_patches_on_import(run_python):
    out = run_python(
        """
        import sys
        from cairn import autolog
        assert "lightning" in autolog(transformers=False, keras=False)
        assert "torch" not in sys.modules and "lightning" not in sys.modules
        import lightning.pytorch as pl
        import pytorch_lightning
        assert getattr(pl.Trainer.__init__, "__cairn_autolog__", False)
        assert getattr(pytorch_lightning.Trainer.__init__, "__cairn_autolog__", False)
        print(type(pl.Trainer(logger=None).logger).__name__, type(pytorch_lightning.Trainer().logger).__module__)
        """
    )
    assert out.split() == ["CairnLogger", "cairn.integrations.lightning"]
