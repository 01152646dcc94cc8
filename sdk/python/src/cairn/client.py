"""``cairn.Client``: synchronous reads and writes for scripts and notebooks.

Unlike a :class:`~cairn.runs.Run`, every call here talks to the server and raises
:class:`~cairn.errors.ApiError` subclasses when it answers with an error.
"""

from __future__ import annotations

import http.client
import os
import struct
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from . import digest as digest_module
from . import settings as settings_module
from .errors import ServerError, UsageError, from_response
from .http import Http, segment

POINTS_MAGIC = b"CAIRNPT1"
MLFLOW = "/api/2.0/mlflow"
VIEWS = {"active": "ACTIVE_ONLY", "deleted": "DELETED_ONLY", "all": "ALL"}


@dataclass
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str = ""
    lifecycle_stage: str = "active"
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None

    @classmethod
    def from_wire(cls, e: dict[str, Any]) -> Experiment:
        return cls(
            experiment_id=e["experiment_id"],
            name=e.get("name", ""),
            artifact_location=e.get("artifact_location", ""),
            lifecycle_stage=e.get("lifecycle_stage", "active"),
            tags={t["key"]: t.get("value", "") for t in e.get("tags", [])},
            creation_time=_int(e.get("creation_time")),
            last_update_time=_int(e.get("last_update_time")),
        )


@dataclass
class RunRecord:
    """A run as stored: info, params, tags and the latest value of each metric."""

    run_id: str
    experiment_id: str
    name: str
    status: str
    start_time: int | None
    end_time: int | None
    user_id: str
    artifact_uri: str
    lifecycle_stage: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_wire(cls, run: dict[str, Any]) -> RunRecord:
        info, data = run.get("info", {}), run.get("data", {})
        return cls(
            run_id=info["run_id"],
            experiment_id=info.get("experiment_id", ""),
            name=info.get("run_name", ""),
            status=info.get("status", ""),
            start_time=_int(info.get("start_time")),
            end_time=_int(info.get("end_time")),
            user_id=info.get("user_id", ""),
            artifact_uri=info.get("artifact_uri", ""),
            lifecycle_stage=info.get("lifecycle_stage", "active"),
            params={p["key"]: p.get("value", "") for p in data.get("params", [])},
            tags={t["key"]: t.get("value", "") for t in data.get("tags", [])},
            metrics={m["key"]: _double(m.get("value")) for m in data.get("metrics", [])},
        )


@dataclass
class MetricHistory:
    steps: list[int]
    timestamps: list[int]
    values: list[float]
    thinned: int = 0

    def __len__(self) -> int:
        return len(self.steps)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _double(value: Any) -> float:
    # float() reads "NaN", "Infinity" and "-Infinity", the strings the server sends.
    return float(value)


class Client:
    """A connection to a Cairn server (``url`` defaults to ``CAIRN_URL``, then
    ``http://127.0.0.1:5000``)."""

    def __init__(self, url: str | None = None, *, token: str | None = None, timeout: float = 60.0):
        resolved = settings_module.resolve(url=url, token=token)
        self.url = resolved.url
        self._token = resolved.token
        self._timeout = timeout
        self._local = threading.local()

    @property
    def _http(self) -> Http:
        http = getattr(self._local, "http", None)
        if http is None:
            http = self._local.http = Http(self.url, token=self._token, timeout=self._timeout)
        return http

    def _call(self, method: str, path: str, payload: Any = None) -> Any:
        return self._http.call(method, path, payload)

    # ----- experiments -----

    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str:
        body: dict[str, Any] = {"name": name}
        if tags:
            body["tags"] = [{"key": k, "value": str(v)} for k, v in tags.items()]
        return self._call("POST", f"{MLFLOW}/experiments/create", body)["experiment_id"]

    def get_experiment(self, experiment_id: str) -> Experiment:
        answer = self._call("GET", f"{MLFLOW}/experiments/get?experiment_id={quote(experiment_id)}")
        return Experiment.from_wire(answer["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        from .errors import NotFoundError

        try:
            answer = self._call("GET", f"{MLFLOW}/experiments/get-by-name?{urlencode({'experiment_name': name})}")
        except NotFoundError:
            return None
        return Experiment.from_wire(answer["experiment"])

    def search_experiments(
        self,
        filter: str | None = None,
        order_by: list[str] | None = None,
        max_results: int | None = None,
        view: str = "active",
    ) -> list[Experiment]:
        body: dict[str, Any] = {"view_type": _view(view)}
        pages = self._paged("experiments/search", "experiments", body, filter, order_by, max_results)
        return [Experiment.from_wire(e) for e in pages]

    def _paged(
        self,
        route: str,
        field: str,
        body: dict[str, Any],
        filter: str | None,
        order_by: list[str] | None,
        max_results: int | None,
    ) -> list[dict[str, Any]]:
        """Every item of a paged MLflow search, up to ``max_results``."""
        out: list[dict[str, Any]] = []
        if filter:
            body["filter"] = filter
        if order_by:
            body["order_by"] = order_by
        while True:
            page = 1000 if max_results is None else min(1000, max_results - len(out))
            if page <= 0:
                return out
            answer = self._call("POST", f"{MLFLOW}/{route}", {**body, "max_results": page})
            out.extend(answer.get(field, []))
            token = answer.get("next_page_token")
            if not token:
                return out
            body["page_token"] = token

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._call(
            "POST",
            f"{MLFLOW}/experiments/update",
            {"experiment_id": experiment_id, "new_name": new_name},
        )

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("POST", f"{MLFLOW}/experiments/delete", {"experiment_id": experiment_id})

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", f"{MLFLOW}/experiments/restore", {"experiment_id": experiment_id})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._call(
            "POST",
            f"{MLFLOW}/experiments/set-experiment-tag",
            {"experiment_id": experiment_id, "key": key, "value": value},
        )

    # ----- runs -----

    def create_run(
        self,
        experiment_id: str = "0",
        *,
        run_name: str | None = None,
        tags: dict[str, str] | None = None,
        start_time: int | None = None,
    ) -> RunRecord:
        body: dict[str, Any] = {"experiment_id": experiment_id}
        if run_name:
            body["run_name"] = run_name
        if tags:
            body["tags"] = [{"key": k, "value": str(v)} for k, v in tags.items()]
        if start_time is not None:
            body["start_time"] = start_time
        return RunRecord.from_wire(self._call("POST", f"{MLFLOW}/runs/create", body)["run"])

    def get_run(self, run_id: str) -> RunRecord:
        answer = self._call("GET", f"{MLFLOW}/runs/get?run_id={quote(run_id)}")
        return RunRecord.from_wire(answer["run"])

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"run_id": run_id}
        if status:
            body["status"] = status
        if end_time is not None:
            body["end_time"] = end_time
        if name:
            body["run_name"] = name
        self._call("POST", f"{MLFLOW}/runs/update", body)

    def set_terminated(self, run_id: str, status: str = "FINISHED") -> None:
        import time

        self.update_run(run_id, status=status, end_time=int(time.time() * 1000))

    def delete_run(self, run_id: str) -> None:
        self._call("POST", f"{MLFLOW}/runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._call("POST", f"{MLFLOW}/runs/restore", {"run_id": run_id})

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: dict[str, float] | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        step: int = 0,
    ) -> None:
        import time

        now = int(time.time() * 1000)
        body = {
            "run_id": run_id,
            "metrics": [{"key": k, "value": v, "timestamp": now, "step": step} for k, v in (metrics or {}).items()],
            "params": [{"key": k, "value": str(v)} for k, v in (params or {}).items()],
            "tags": [{"key": k, "value": str(v)} for k, v in (tags or {}).items()],
        }
        self._call("POST", f"{MLFLOW}/runs/log-batch", body)

    def search_runs(
        self,
        experiment_ids: list[str] | str | None = None,
        filter: str | None = None,
        order_by: list[str] | None = None,
        max_results: int | None = 1000,
        view: str = "active",
        output: str = "list",
    ) -> Any:
        """Runs matching an MLflow filter (``metrics.loss < 0.1 and params.lr = '0.01'``),
        as a list of :class:`RunRecord` or (``output="pandas"``) a DataFrame with
        ``params.*``, ``metrics.*`` and ``tags.*`` columns. All experiments by default."""
        if experiment_ids is None:
            ids = [e.experiment_id for e in self.search_experiments(view="all")]
        else:
            ids = [experiment_ids] if isinstance(experiment_ids, str) else list(experiment_ids)
        body: dict[str, Any] = {"experiment_ids": ids, "run_view_type": _view(view)}
        pages = self._paged("runs/search", "runs", body, filter, order_by, max_results)
        runs = [RunRecord.from_wire(r) for r in pages]
        if output == "list":
            return runs
        if output == "pandas":
            return _runs_frame(runs)
        raise UsageError(f"output must be 'list' or 'pandas'; got {output!r}")

    # ----- metrics -----

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        output: str = "list",
        *,
        start: int | None = None,
        end: int | None = None,
    ) -> Any:
        """Every point of a metric, in step order: a :class:`MetricHistory`
        (``output="list"``), a numpy structured array (``"numpy"``: fields step, timestamp,
        value) or a pandas DataFrame (``"pandas"``). ``start``/``end`` bound the steps."""
        query = {"format": "binary"}
        if start is not None:
            query["from"] = str(start)
        if end is not None:
            query["to"] = str(end)
        data = self._http.get_bytes(f"/api/v1/runs/{segment(run_id)}/metrics/{segment(key)}/points?{urlencode(query)}")
        if data[:8] != POINTS_MAGIC:
            raise UsageError("the server answered with an unknown points format")
        count, thinned = struct.unpack_from("<Qq", data, 8)
        base = 24
        if output == "numpy" or output == "pandas":
            import numpy as np

            steps = np.frombuffer(data, "<i8", count, base)
            stamps = np.frombuffer(data, "<i8", count, base + 8 * count)
            values = np.frombuffer(data, "<f8", count, base + 16 * count)
            if output == "pandas":
                import pandas as pd

                return pd.DataFrame({"step": steps, "timestamp": stamps, "value": values})
            out = np.empty(count, dtype=[("step", "<i8"), ("timestamp", "<i8"), ("value", "<f8")])
            out["step"], out["timestamp"], out["value"] = steps, stamps, values
            return out
        if output != "list":
            raise UsageError(f"output must be 'list', 'numpy' or 'pandas'; got {output!r}")
        steps_l = list(struct.unpack_from(f"<{count}q", data, base))
        stamps_l = list(struct.unpack_from(f"<{count}q", data, base + 8 * count))
        values_l = list(struct.unpack_from(f"<{count}d", data, base + 16 * count))
        return MetricHistory(steps_l, stamps_l, values_l, thinned)

    def metric_summaries(self, run_id: str) -> dict[str, dict[str, Any]]:
        """Per metric key: count, min, max, mean, last and more (the server's summaries)."""
        answer = self._call("GET", f"/api/v1/runs/{segment(run_id)}/metrics")
        return {m["key"]: m for m in answer.get("metrics", [])}

    def compare_runs(
        self,
        run_ids: list[str],
        *,
        group_by: str | None = None,
        best: dict[str, str] | None = None,
        bands: dict[str, Any] | None = None,
        test: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The server's comparison of runs (``POST /api/v1/compare``): params that differ,
        metric summaries, the best run (``best={"metric": "val/loss", "direction": "min"}``),
        groups (``group_by="params.lr"``), mean ± std bands and significance tests between
        groups (``test={"metric": ..., "groups": ["0.1", "0.01"]}``)."""
        body: dict[str, Any] = {"run_ids": list(run_ids)}
        for name, value in (("group_by", group_by), ("best", best), ("bands", bands), ("test", test)):
            if value is not None:
                body[name] = value
        return self._call("POST", "/api/v1/compare", body)

    # ----- artifacts -----

    def list_artifacts(self, run_id: str, path: str = "", recursive: bool = False) -> list[dict[str, Any]]:
        """The files (and, unless ``recursive``, the folders) under ``path`` in a run's
        artifacts, sorted by path. A file is ``{"path", "is_dir": False, "size", "file_size",
        "digest", "content_type", "created"}`` (``file_size`` as MLflow names it), a folder
        ``{"path", "is_dir": True}``; paths are relative to the run's artifact root."""
        route = f"/api/v1/runs/{segment(run_id)}/artifacts"
        query: dict[str, str] = {"path": path.strip("/")}
        if recursive:
            query["recursive"] = "true"
        out: list[dict[str, Any]] = []
        while True:
            answer = self._call("GET", f"{route}?{urlencode(query)}")
            for f in answer.get("files", []):
                out.append(
                    {
                        "path": f["path"],
                        "is_dir": False,
                        "size": f.get("size"),
                        "file_size": f.get("size"),
                        "digest": f.get("digest"),
                        "content_type": f.get("content_type"),
                        "created": f.get("created"),
                    }
                )
            out.extend({"path": d, "is_dir": True} for d in answer.get("dirs", []))
            token = answer.get("next_page_token")
            if not recursive or not token:
                break
            query["page_token"] = token
        out.sort(key=lambda entry: entry["path"])
        return out

    def download_artifacts(self, run_id: str, path: str = "", dst: str | os.PathLike[str] = ".") -> Path:
        """Downloads an artifact file or folder (everything by default) under ``dst``; returns
        the local path of what was asked for."""
        target = Path(dst)
        path = path.strip("/")
        entries = self.list_artifacts(run_id, path, recursive=True)
        if not entries and path:
            # A file, not a folder.
            return self.download_artifact(run_id, path, target / path)
        for entry in entries:
            self.download_artifact(run_id, entry["path"], target / entry["path"])
        return target / path if path else target

    def download_artifact(self, run_id: str, path: str, dst: str | os.PathLike[str]) -> Path:
        """Downloads one artifact file to ``dst`` (a file path; into it when it is a folder)
        and returns the local path. The bytes stream to ``<dst>.part``, which is renamed when
        complete; an interrupted download (this call's connection dropping, or an earlier
        call's process dying) continues from the end of ``.part`` with a ``Range`` request,
        as long as the server's file is still the same (its digest, the ``ETag``). With the
        ``blake3`` package installed the result is checked against that digest."""
        path = path.strip("/")
        target = Path(dst)
        if target.is_dir():
            target = target / path.rsplit("/", 1)[-1]
        target.parent.mkdir(parents=True, exist_ok=True)
        route = f"/api/v1/runs/{segment(run_id)}/files/{quote(path, safe='/')}"
        partial = target.with_name(target.name + ".part")
        for attempt in range(DOWNLOAD_ATTEMPTS):
            try:
                etag = self._download_into(route, partial)
                break
            except ServerError as e:
                # Only a lost connection is worth another try here (5xx and 429 are raised).
                if e.status is not None or attempt == DOWNLOAD_ATTEMPTS - 1:
                    raise
        if etag and etag.startswith("blake3:"):
            got = digest_module.file_digest(partial)
            if got is not None and got != etag:
                _remove_download(partial)
                raise ServerError(f"{path}: downloaded bytes have digest {got}, the server's file {etag}")
        _remove(_etag_note(partial))
        os.replace(partial, target)
        return target

    def _download_into(self, route: str, partial: Path) -> str | None:
        """Fills ``partial`` with the file at ``route``, continuing what it holds when the
        server's file has the ETag noted next to it; returns the file's digest (the ETag)."""
        note = _etag_note(partial)
        offset = partial.stat().st_size if partial.exists() else 0
        noted = note.read_text().strip() if offset and note.exists() else None
        headers = {"Range": f"bytes={offset}-"} if noted else {}
        with self._http.stream("GET", route, headers=headers) as response:
            tag = (response.getheader("ETag") or "").strip('"') or None
            if response.status == 416 and noted:
                # Nothing past what we hold: complete, if the file is still the one noted.
                response.read()
                total = (response.getheader("Content-Range") or "").rpartition("/")[2]
                if total == str(offset):
                    return noted
                _remove_download(partial)
                return self._download_into(route, partial)
            if response.status >= 400:
                raise from_response(response.status, response.read())
            if response.status == 206 and tag != noted:
                # The file changed since the partial download: start over.
                self._http.close()
                _remove_download(partial)
                return self._download_into(route, partial)
            append = response.status == 206
            if not append and tag:
                note.write_text(tag)
            with open(partial, "ab" if append else "wb") as out:
                try:
                    while True:
                        chunk = response.read(DOWNLOAD_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                except (OSError, http.client.HTTPException) as e:
                    raise ServerError(f"download of {route} interrupted: {e}") from e
            if not response.isclosed() or response.length:
                raise ServerError(f"download of {route} ended early")
        return tag


DOWNLOAD_ATTEMPTS = 3
DOWNLOAD_CHUNK = 1 << 20


def _etag_note(partial: Path) -> Path:
    return partial.with_name(partial.name + ".etag")


def _remove(path: Path) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _remove_download(partial: Path) -> None:
    _remove(partial)
    _remove(_etag_note(partial))


def _view(view: str) -> str:
    try:
        return VIEWS[view]
    except KeyError:
        raise UsageError(f"view must be one of {', '.join(VIEWS)}; got {view!r}") from None


def _runs_frame(runs: list[RunRecord]) -> Any:
    import pandas as pd

    rows = []
    for r in runs:
        row: dict[str, Any] = {
            "run_id": r.run_id,
            "experiment_id": r.experiment_id,
            "run_name": r.name,
            "status": r.status,
            "start_time": pd.to_datetime(r.start_time, unit="ms", utc=True) if r.start_time else None,
            "end_time": pd.to_datetime(r.end_time, unit="ms", utc=True) if r.end_time else None,
        }
        row.update({f"metrics.{k}": v for k, v in r.metrics.items()})
        row.update({f"params.{k}": v for k, v in r.params.items()})
        row.update({f"tags.{k}": v for k, v in r.tags.items()})
        rows.append(row)
    return pd.DataFrame(rows)
