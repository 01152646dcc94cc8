"""``CairnCallback`` on a real Hugging Face Trainer (a tiny BERT built from a config, random
data, CPU, nothing downloaded) against a real server."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments  # noqa: E402

import cairn  # noqa: E402
from cairn import autolog  # noqa: E402
from cairn.integrations.transformers import CairnCallback, rewrite_logs  # noqa: E402


class RandomTokens(torch.utils.data.Dataset):
    def __init__(self, size: int, seed: int):
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(0, 100, (size, 12), generator=generator)
        self.labels = torch.randint(0, 2, (size,), generator=generator)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(12, dtype=torch.long), "labels": self.labels[i]}


def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=100,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        num_labels=2,
    )
    return BertForSequenceClassification(config)


def arguments(tmp_path, **overrides) -> TrainingArguments:
    options = dict(
        output_dir=str(tmp_path / "out"),
        max_steps=10,
        logging_steps=2,
        eval_strategy="steps",
        eval_steps=5,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=8,
        learning_rate=1e-3,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
    )
    options.update(overrides)
    return TrainingArguments(**options)


def test_rewrite_logs():
    assert rewrite_logs({"loss": 1, "eval_loss": 2, "test_acc": 3}) == {"train/loss": 1, "eval/loss": 2, "test/acc": 3}


def test_config_metrics_and_checkpoints(project, tmp_path):
    args = arguments(tmp_path, save_strategy="steps", save_steps=10, run_name="tiny-bert")
    callback = CairnCallback(log_checkpoints=True)
    trainer = Trainer(
        model=tiny_bert(),
        args=args,
        train_dataset=RandomTokens(40, 0),
        eval_dataset=RandomTokens(16, 1),
        callbacks=[callback],
    )
    trainer.train()

    run = project.only_run()
    assert run.run_id == callback.run.id and run.name == "tiny-bert" and run.status == "FINISHED"
    # TrainingArguments and the model config, as params.
    assert run.params["max_steps"] == "10" and run.params["logging_steps"] == "2"
    assert run.params["learning_rate"] == "0.001"
    assert run.params["hidden_size"] == "16" and run.params["vocab_size"] == "100"
    assert run.params["num_hidden_layers"] == "1"
    # Metrics at the global step, with Hugging Face's names.
    steps, values = project.history(run.run_id, "train/loss")
    assert steps == [2, 4, 6, 8, 10] and all(v > 0 for v in values)
    assert project.history(run.run_id, "eval/loss")[0] == [5, 10]
    assert project.history(run.run_id, "train/learning_rate")[0] == [2, 4, 6, 8, 10]
    assert project.history(run.run_id, "train/train_runtime")[0] == [10]
    assert "train/epoch" in run.metrics and "eval/runtime" in run.metrics
    files = project.artifacts(run.run_id, "checkpoints/checkpoint-10")
    assert "checkpoints/checkpoint-10/config.json" in files
    assert "checkpoints/checkpoint-10/trainer_state.json" in files


def test_autolog_adds_the_callback_once_and_uses_the_current_run(project, tmp_path):
    assert "transformers" in autolog(lightning=False, keras=False)
    own = cairn.init(name="mine")
    trainer = Trainer(
        model=tiny_bert(), args=arguments(tmp_path), train_dataset=RandomTokens(40, 0), eval_dataset=RandomTokens(16, 1)
    )
    added = [c for c in trainer.callback_handler.callbacks if isinstance(c, CairnCallback)]
    assert len(added) == 1
    no_eval = arguments(tmp_path, eval_strategy="no")
    explicit = Trainer(model=tiny_bert(), args=no_eval, callbacks=[CairnCallback()])
    assert sum(isinstance(c, CairnCallback) for c in explicit.callback_handler.callbacks) == 1
    trainer.train()
    trainer.evaluate()  # the run is the user's: still open after train()
    assert not own._finished
    own.finish()
    run = project.only_run()
    assert run.run_id == own.id and run.status == "FINISHED"
    assert project.history(own.id, "eval/loss")[0] == [5, 10, 10]
    autolog(disable=True)
    plain = Trainer(model=tiny_bert(), args=no_eval)
    assert not any(isinstance(c, CairnCallback) for c in plain.callback_handler.callbacks)


def test_autolog_before_import_patches_on_import(run_python):
    out = run_python(
        """
        import sys
        from cairn import autolog
        assert "transformers" in autolog(lightning=False, keras=False)
        assert "torch" not in sys.modules and "transformers" not in sys.modules
        from transformers import Trainer
        assert getattr(Trainer.__init__, "__cairn_autolog__", False)
        module = sys.modules["transformers.trainer"]
        assert module.__loader__ is module.__spec__.loader and type(module.__loader__).__name__ == "SourceFileLoader"
        print("patched")
        """
    )
    assert out.strip() == "patched"
