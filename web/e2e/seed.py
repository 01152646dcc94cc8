"""Seeds a Cairn server for the browser tests with the official mlflow client.

Run with MLFLOW_TRACKING_URI pointing at the server. Prints one JSON line describing what was
made (experiment and run ids, the expected values the tests assert on).

- Experiment `e2e-sweep`: six finished runs `sweep-0` .. `sweep-5` with params `lr`,
  `batch_size`, `optimizer` (the same for all), tag `team`, metrics `loss` and `accuracy` over
  exactly STEPS steps (loss ends at FINAL_LOSS[i]). `sweep-0` has a PNG and a text artifact;
  `sweep-1` has the same text at another path.
- Experiment `e2e-live`: one RUNNING run `live-run` with LIVE_STEPS points of `loss`, that the
  live test extends.
- Experiment `e2e-models`: a run `trainer` that used the dataset `train` and produced a logged
  model, registered twice as `e2e-model` (v1, v2; alias `champion` → v2, v1 in Production).
"""

import json
import os
import struct
import sys
import tempfile
import zlib

os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")

from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag  # noqa: E402

STEPS = 100
LIVE_STEPS = 10
# Not in creation order, so that sorting by loss differs from the default (newest first).
FINAL_LOSS = [0.45, 0.12, 0.77, 0.31, 0.93, 0.58]
LEARNING_RATES = ["0.1", "0.03", "0.01", "0.003", "0.001", "0.0003"]
T0 = 1_780_000_000_000
IMAGE_SIZE = (160, 96)


def loss_at(step: int, final: float) -> float:
    """A decaying curve from 2.0 that ends exactly at `final` on the last step."""
    frac = 1 - step / (STEPS - 1)
    return final + (2.0 - final) * frac * frac


def png(width: int, height: int) -> bytes:
    """A small RGB gradient PNG, written by hand (no imaging library needed)."""
    rows = b"".join(
        b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, y * 255 // height, 160))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def seed_sweep(client: MlflowClient) -> dict:
    exp = client.create_experiment("e2e-sweep", tags={"project": "e2e"})
    runs = []
    for i, final in enumerate(FINAL_LOSS):
        run = client.create_run(exp, run_name=f"sweep-{i}", tags={"team": "vision" if i % 2 == 0 else "nlp"})
        rid = run.info.run_id
        params = [
            Param("lr", LEARNING_RATES[i]),
            Param("batch_size", "64" if i < 3 else "32"),
            Param("optimizer", "adam"),
        ]
        metrics = []
        for step in range(STEPS):
            loss = loss_at(step, final)
            metrics.append(Metric("loss", loss, T0 + step * 1000, step))
            metrics.append(Metric("accuracy", 1 - loss / 2, T0 + step * 1000, step))
        client.log_batch(rid, metrics=metrics, params=params, tags=[RunTag("seed", "e2e")])
        client.set_terminated(rid, "FINISHED")
        runs.append({"id": rid, "name": f"sweep-{i}", "loss": final, "lr": LEARNING_RATES[i]})
    first = runs[0]["id"]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "curve.png")
        with open(path, "wb") as f:
            f.write(png(*IMAGE_SIZE))
        client.log_artifact(first, path, "plots")
    client.log_text(first, "Seeded by web/e2e/seed.py.\n", "notes/readme.txt")
    # The same bytes in another run: stored once, shown as shared.
    client.log_text(runs[1]["id"], "Seeded by web/e2e/seed.py.\n", "copied/readme.txt")
    return {"experiment_id": exp, "runs": runs}


def seed_live(client: MlflowClient) -> dict:
    exp = client.create_experiment("e2e-live")
    run = client.create_run(exp, run_name="live-run")
    metrics = [Metric("loss", 1.0 / (step + 1), T0 + step * 1000, step) for step in range(LIVE_STEPS)]
    client.log_batch(run.info.run_id, metrics=metrics)
    return {"experiment_id": exp, "run_id": run.info.run_id}


def seed_models(client: MlflowClient) -> dict:
    exp = client.create_experiment("e2e-models")
    run = client.create_run(exp, run_name="trainer")
    rid = run.info.run_id
    dataset = Dataset(name="train", digest="d41d8cd9", source_type="local", source='{"uri": "train.csv"}')
    client.log_inputs(rid, datasets=[DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])])
    model = client.create_logged_model(exp, name="classifier", source_run_id=rid)
    client.set_terminated(rid, "FINISHED")
    client.create_registered_model("e2e-model", description="Seeded by web/e2e/seed.py.")
    for _ in range(2):
        client.create_model_version("e2e-model", f"models:/{model.model_id}", run_id=rid, model_id=model.model_id)
    client.set_registered_model_alias("e2e-model", "champion", "2")
    client.transition_model_version_stage("e2e-model", "1", "Production")
    return {"experiment_id": exp, "run_id": rid, "model_id": model.model_id, "name": "e2e-model", "dataset": "train@d41d8cd9"}


def main() -> None:
    client = MlflowClient()
    out = {
        "steps": STEPS,
        "live_steps": LIVE_STEPS,
        "image": {"path": "plots/curve.png", "width": IMAGE_SIZE[0], "height": IMAGE_SIZE[1]},
        "text": {"path": "notes/readme.txt"},
        "sweep": seed_sweep(client),
        "live": seed_live(client),
        "models": seed_models(client),
    }
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
