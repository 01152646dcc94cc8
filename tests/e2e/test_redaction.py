"""Server-side redaction: values of secret-looking param and tag keys are stored as [REDACTED],
credentials inside URLs are cut out, other values are kept as sent."""

from __future__ import annotations

import mlflow
import pytest

from e2e_util import is_cairn

pytestmark = pytest.mark.skipif(not is_cairn(), reason="Cairn's server-side redaction")


def test_secret_values_never_reach_the_store(ctx):
    with mlflow.start_run() as run:
        mlflow.log_params(
            {
                "db_password": "hunter2",
                "openaiApiKey": "sk-123",
                "max_tokens": "256",
                "key_size": "4096",
                "data_url": "postgres://ada:pw@db:5432/x",
            }
        )
        mlflow.set_tags({"HF_TOKEN": "hf_abc", "team": "risk", "source": "https://u:p@example.invalid/x"})
        # Logging the same secret again is not a conflicting param value.
        mlflow.log_param("db_password", "hunter2")
    stored = ctx.client.get_run(run.info.run_id).data
    assert stored.params["db_password"] == "[REDACTED]"
    assert stored.params["openaiApiKey"] == "[REDACTED]"
    assert stored.params["max_tokens"] == "256"
    assert stored.params["key_size"] == "4096"
    assert stored.params["data_url"] == "postgres://[REDACTED]@db:5432/x"
    assert stored.tags["HF_TOKEN"] == "[REDACTED]"
    assert stored.tags["team"] == "risk"
    assert stored.tags["source"] == "https://[REDACTED]@example.invalid/x"
    experiment = ctx.client.create_experiment(f"redact-{run.info.run_id}", tags={"service_token": "abc"})
    assert ctx.client.get_experiment(experiment).tags["service_token"] == "[REDACTED]"
