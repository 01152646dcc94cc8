"""A run: what ``cairn.init()`` returns.

``log()`` validates its arguments (cheap, local) and hands the points to the
:class:`~cairn.writer.Writer`; everything else (params, tags, artifacts, status) becomes a spool
record in the order it was called. Nothing here waits on the network except ``init()``'s one
short attempt to create the run (so that a wrong project or URL is reported at once; an
unreachable server only means the run is created when it comes back) and ``finish()``'s
bounded wait for delivery.
"""

from __future__ import annotations

import atexit
import getpass
import json
import logging
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from . import redact
from .errors import ApiError, ParamChangedError, ServerError, UsageError
from .http import Http, segment
from .settings import Settings
from .spool import RunLock
from .values import check_key, flatten, metric_values, param_value, tag_value
from .writer import Writer

log = logging.getLogger("cairn")

RUN_NAME_TAG = "mlflow.runName"
NOTE_TAG = "mlflow.note.content"
GROUP_TAG = "cairn.group"
LABELS_TAG = "cairn.tags"
#: Who may see a project the run creates (with authentication on).
VISIBILITIES = ("private", "team", "public")
#: Set by ``cairn reproduce`` in the environment of the command it re-runs: the original run.
REPRODUCES_ENV = "CAIRN_REPRODUCES"
REPRODUCES_TAG = "cairn.reproduces"
SUMMARY_PREFIX = "summary."
INIT_TIMEOUT = 5.0

_current: Run | None = None
_current_lock = threading.Lock()
# The status a run still open at interpreter exit gets: an uncaught exception fails it.
_exit_status = "FINISHED"
_hook_installed = False


def _install_excepthook() -> None:
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True
    previous = sys.excepthook

    def hook(kind: Any, value: Any, traceback: Any) -> None:
        global _exit_status
        _exit_status = "KILLED" if issubclass(kind, KeyboardInterrupt) else "FAILED"
        previous(kind, value, traceback)

    sys.excepthook = hook


def current() -> Run | None:
    return _current


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 — no user name is not an error
        return ""


class Config(MutableMapping[str, Any]):
    """The run's configuration, stored as params (nested keys joined with ``.``).

    Reads return what you set. A key can be set again only to the same value (params are
    immutable, as in MLflow). Values of keys that look secret (``api_key``, ``db_password``…)
    are sent as ``[REDACTED]``.
    """

    def __init__(self, run: Run):
        self._run = run
        self._data: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.update({key: value})

    def __delitem__(self, key: str) -> None:
        raise UsageError("Config values cannot be removed once logged (params are immutable)")

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        values = dict(other, **kwargs)
        params = self._run._params_of(values)
        for key, value in values.items():
            self._data[key] = value
        self._run._send_params(params)

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"Config({self._data!r})"


class Summary(MutableMapping[str, Any]):
    """The run's summary: the last logged value of each metric, unless you set one yourself.

    Values you set are stored as ``summary.<key>`` run tags (JSON) when the run finishes.
    """

    def __init__(self, run: Run):
        self._run = run
        self._set: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key in self._set:
            return self._set[key]
        return self._run._last[key]

    def __setitem__(self, key: str, value: Any) -> None:
        check_key(key, "summary")
        json.dumps(value)  # must be storable
        self._set[key] = value

    def __delitem__(self, key: str) -> None:
        del self._set[key]

    def __iter__(self) -> Iterator[str]:
        return iter({**self._run._last, **self._set})

    def __len__(self) -> int:
        return len({**self._run._last, **self._set})

    def explicit(self) -> dict[str, Any]:
        return dict(self._set)

    def __repr__(self) -> str:
        return f"Summary({dict(self)!r})"


class Run:
    """One tracked run. Create it with :func:`cairn.init`."""

    #: The class of :attr:`config` (a subclass may widen what config accepts).
    config_class: type[Config] = Config

    def __init__(
        self,
        settings: Settings,
        *,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        group: str | None = None,
        mlflow_tags: Mapping[str, Any] | None = None,
        resume: str | None = None,
        fork_from: str | None = None,
        fork_step: int | None = None,
        team: str | None = None,
        visibility: str | None = None,
    ):
        if visibility is not None and visibility not in VISIBILITIES:
            raise UsageError(f"visibility must be one of {', '.join(VISIBILITIES)}; got {visibility!r}")
        self.settings = settings
        self.id = resume or uuid.uuid4().hex
        self.name = name
        self.project = settings.project
        self.mode = settings.mode
        self.experiment_id: str | None = None
        self.artifact_uri: str | None = None
        self.config = self.config_class(self)
        self.summary = Summary(self)
        self._step = 0
        self._known: set[str] = set()
        self._last: dict[str, Any] = {}
        self._params: dict[str, str] = {}
        self._finished = False
        self._writer: Writer | None = None
        self._lock: RunLock | None = None
        self._env_thread: threading.Thread | None = None
        self._env_cancel = threading.Event()
        self._monitor: Any = None
        self.dir: Path | None = None
        self.start_time = _now_ms()
        if self.mode == "disabled":
            return

        self.dir = settings.dir / "runs" / self.id
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = RunLock(self.dir / "lock")
        meta = {
            "run_id": self.id,
            "mode": self.mode,
            "url": settings.url,
            "project": self.project,
            "created": self.start_time,
        }
        (self.dir / "meta.json").write_text(json.dumps(meta))

        run_tags: dict[str, str] = {}
        if notes:
            run_tags[NOTE_TAG] = tag_value(NOTE_TAG, notes)
        if group:
            run_tags[GROUP_TAG] = tag_value(GROUP_TAG, group)
        if tags:
            run_tags[LABELS_TAG] = tag_value(LABELS_TAG, ",".join(sorted(set(tags))))
        for key, value in (mlflow_tags or {}).items():
            check_key(key, "tag")
            run_tags[key] = tag_value(key, value)
        reproduces = os.environ.get(REPRODUCES_ENV)
        if reproduces and not resume:
            run_tags[REPRODUCES_TAG] = reproduces
        body: dict[str, Any] = {
            "start_time": self.start_time,
            "user_id": _user(),
            "tags": [{"key": k, "value": v} for k, v in run_tags.items()],
        }
        if self.project:
            body["experiment_name"] = self.project
            owner = {"cairn.team": team, "cairn.visibility": visibility}
            experiment_tags = [{"key": k, "value": v} for k, v in owner.items() if v]
            if experiment_tags:
                body["experiment_tags"] = experiment_tags
        if name:
            body["run_name"] = name
        params = self._params_of(dict(config or {}))

        online = self.mode == "online"
        if (resume or fork_from) and not online:
            self._discard()
            raise UsageError("resume= and fork_from= need mode='online': the server holds the run to continue")
        if resume:
            self._continue(body)
        elif fork_from:
            self._fork(body, fork_from, fork_step, name)
        elif online:
            self._create_now(body)
        self._writer = Writer(self.id, self.dir, settings, online=online)
        # Spooled even when the run was just created (the PUT is idempotent), so that the spool
        # alone can recreate the run wherever it is synced.
        self._writer.op({"op": "run", "run_id": self.id}, json.dumps(body).encode())
        if resume:
            self._writer.op({"op": "update", "run_id": self.id, "status": "RUNNING"})
        if config:
            self.config._data.update(config)
        self._send_params(params)

        if settings.capture_environment:
            self._env_thread = threading.Thread(target=self._capture_environment, name="cairn-environment", daemon=True)
            self._env_thread.start()
        if settings.system_metrics_interval > 0:
            from .system import SystemMonitor

            self._system_step = 0
            self._monitor = SystemMonitor(self._log_system, settings.system_metrics_interval)
            self._monitor.start()
        _install_excepthook()
        atexit.register(self._at_exit)

    # ----- creation -----

    def _create_now(self, body: dict[str, Any]) -> bool:
        """Creates the run on the server now if it answers quickly. A rejection (unknown
        experiment, deleted project) raises; an unreachable server defers creation to the
        spool."""
        http = Http(self.settings.url, token=self.settings.token, timeout=INIT_TIMEOUT)
        try:
            answer = http.call("PUT", f"/api/v1/runs/{segment(self.id)}", body)
        except ServerError as e:
            log.warning(
                "cairn: cannot reach %s (%s); logging to %s until it is back",
                self.settings.url,
                e,
                self.dir,
            )
            return False
        except ApiError:
            self._discard()
            raise
        finally:
            http.close()
        info = answer.get("run", {}).get("info", {})
        self.experiment_id = info.get("experiment_id")
        self.artifact_uri = info.get("artifact_uri")
        self.name = info.get("run_name", self.name)
        return True

    def _continue(self, body: dict[str, Any]) -> None:
        """Resumes this (existing) run: it goes back to RUNNING and steps continue after the
        last one it logged."""
        http = Http(self.settings.url, token=self.settings.token, timeout=INIT_TIMEOUT)
        try:
            run = http.call("GET", f"/api/v1/runs/{segment(self.id)}")["run"]
            summaries = http.call("GET", f"/api/v1/runs/{segment(self.id)}/metrics").get("metrics", [])
        except ApiError:
            self._discard()
            raise
        finally:
            http.close()
        info = run.get("info", {})
        if info.get("lifecycle_stage") == "deleted":
            self._discard()
            raise UsageError(f"Run {self.id} is deleted; restore it before resuming it")
        self._adopt(info, body)
        steps = [m.get("last_step", -1) for m in summaries if not str(m.get("key", "")).startswith("system/")]
        self._step = max(steps, default=-1) + 1
        # The PUT finds the run as it is; the update puts it back in progress.
        body.pop("tags", None)

    def _fork(self, body: dict[str, Any], source: str, step: int | None, name: str | None) -> None:
        """Creates this run as a fork of ``source`` from ``step`` (its params, tags and points
        up to the step), so steps continue at ``step + 1``."""
        if step is None:
            self._discard()
            raise UsageError("fork_from= needs fork_step=: the last step of the source run to keep")
        request: dict[str, Any] = {"step": int(step), "run_id": self.id}
        if name:
            request["run_name"] = name
        http = Http(self.settings.url, token=self.settings.token, timeout=INIT_TIMEOUT)
        try:
            answer = http.call("POST", f"/api/v1/runs/{segment(source)}/fork", request)
        except ApiError:
            self._discard()
            raise
        finally:
            http.close()
        self._adopt(answer.get("run", {}).get("info", {}), body)
        self._step = int(step) + 1

    def _adopt(self, info: dict[str, Any], body: dict[str, Any]) -> None:
        """Takes the experiment, artifact location and name of a run the server holds, and
        points the spooled creation record at its experiment."""
        self.experiment_id = info.get("experiment_id")
        self.artifact_uri = info.get("artifact_uri")
        self.name = info.get("run_name", self.name)
        self.project = None
        body.pop("experiment_name", None)
        body.pop("experiment_tags", None)
        body.pop("run_name", None)
        if self.experiment_id is not None:
            body["experiment_id"] = self.experiment_id

    def _discard(self) -> None:
        if self._lock:
            self._lock.release()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ----- logging -----

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: bool | None = None) -> None:
        """Logs metric values at a step (the run's current step when omitted, which then
        advances unless ``commit=False``). Any step order is accepted. Never waits on the
        network."""
        if self._finished:
            raise UsageError("This run has finished; start a new one with cairn.init()")
        known = self._known
        try:
            for key, value in data.items():
                kind = type(value)
                if (kind is not float and kind is not int) or key not in known:
                    values = metric_values(data, known)
                    break
            else:
                values = dict(data)
        except AttributeError:
            raise UsageError(f"log() takes a mapping of metric names to numbers; got {type(data).__name__}") from None
        if step is None:
            at = self._step
            if commit is not False:
                self._step = at + 1
        else:
            if type(step) is not int:
                if isinstance(step, bool) or not isinstance(step, int):
                    raise UsageError(f"step must be an integer; got {step!r}")
                step = int(step)
            if not -(2**63) <= step < 2**63:
                raise UsageError(f"step must fit in 64 bits; got {step}")
            at = step
            if commit is False:
                if at > self._step:
                    self._step = at
            elif at >= self._step:
                self._step = at + 1
        self._last.update(values)
        if self._writer is not None:
            self._writer.add(at, time.time_ns() // 1_000_000, values)

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """MLflow-shaped: one value at ``step`` (0 when omitted, as MLflow does)."""
        self.log({key: value}, step=0 if step is None else step, commit=False)

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step`` uses."""
        return self._step

    def _log_system(self, values: dict[str, float]) -> None:
        if self._writer is None or self._finished:
            return
        step = self._system_step
        self._system_step += 1
        self._last.update(values)
        self._writer.add(step, _now_ms(), values)

    # ----- params and tags -----

    def _params_of(self, values: Mapping[str, Any]) -> dict[str, str]:
        """Params for config values: checked, stringified, and compared with what was logged."""
        params: dict[str, str] = {}
        for key, value in flatten(values, ".").items():
            check_key(key, "param")
            text = param_value(key, value)
            if redact.is_secret_key(key):
                text = redact.REDACTED
            before = self._params.get(key)
            if before is not None and before != text:
                raise ParamChangedError(
                    f"Param {key!r} was logged as {before!r}; it cannot change to {text!r} "
                    "(params are immutable; log the new value as a metric or a tag instead)"
                )
            params[key] = text
        return params

    def _send_params(self, params: dict[str, str]) -> None:
        new = {k: v for k, v in params.items() if self._params.get(k) != v}
        if not new:
            return
        self._check_open()
        self._params.update(new)
        self._batch(params=[{"key": k, "value": v} for k, v in new.items()])

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.config.update(params)

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._check_open()
        checked = []
        for key, value in tags.items():
            check_key(key, "tag")
            checked.append({"key": key, "value": tag_value(key, value)})
        self._batch(tags=checked)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def _batch(self, *, params: Sequence[dict[str, str]] = (), tags: Sequence[dict[str, str]] = ()) -> None:
        if self._writer is None:
            return
        body = json.dumps({"params": list(params), "tags": list(tags)}).encode()
        self._writer.op({"op": "batch", "run_id": self.id}, body)

    def _check_open(self) -> None:
        if self._finished:
            raise UsageError("This run has finished; start a new one with cairn.init()")

    # ----- artifacts -----

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> None:
        """Copies a file or a folder into the run's folder now and uploads it in the
        background under ``name`` (a folder inside the run's artifacts; the root by default)."""
        self._check_open()
        source = Path(path)
        if not source.exists():
            raise UsageError(f"log_artifact: {source} does not exist")
        prefix = (name or "").strip("/")
        if source.is_dir():
            for file in sorted(p for p in source.rglob("*") if p.is_file()):
                rel = file.relative_to(source).as_posix()
                self._artifact_file(file, "/".join(p for p in (prefix, rel) if p))
        else:
            self._artifact_file(source, "/".join(p for p in (prefix, source.name) if p))

    def log_bytes(self, data: bytes, artifact_file: str) -> None:
        """Stores ``data`` as the artifact ``artifact_file`` (a relative path)."""
        self._check_open()
        _check_artifact_path(artifact_file)
        if self._writer is None:
            return
        staged = self._staging_path()
        staged.write_bytes(data)
        self._artifact_op(staged, artifact_file)

    def _staging_path(self) -> Path:
        assert self.dir is not None
        folder = self.dir / "files"
        folder.mkdir(exist_ok=True)
        return folder / uuid.uuid4().hex

    def _artifact_file(self, source: Path, artifact_path: str) -> None:
        _check_artifact_path(artifact_path)
        if self._writer is None:
            return
        staged = self._staging_path()
        shutil.copyfile(source, staged)
        self._artifact_op(staged, artifact_path)

    def _artifact_op(self, staged: Path, artifact_path: str) -> None:
        if self._writer is None:
            staged.unlink(missing_ok=True)
            return
        _check_artifact_path(artifact_path)
        assert self.dir is not None
        header = {
            "op": "artifact",
            "run_id": self.id,
            "file": staged.relative_to(self.dir).as_posix(),
            "path": artifact_path,
        }
        self._writer.op(header)

    # ----- lineage -----

    def use_artifact(self, run_id: str, path: str) -> None:
        """Records that this run read the file ``path`` stored by run ``run_id`` (lineage: the
        file, by content, becomes an input of this run)."""
        self._lineage({"inputs": [{"run_id": run_id, "path": path}]})

    def use_dataset(
        self,
        name: str,
        digest: str,
        *,
        source: str = "",
        source_type: str = "local",
        context: str | None = None,
    ) -> None:
        """Records a dataset version this run consumed, as MLflow's ``log_input`` does (it
        shows among the run's inputs and in lineage as ``dataset:<name>@<digest>``)."""
        self._check_open()
        dataset = {"name": name, "digest": digest, "source_type": source_type, "source": source or "{}"}
        item: dict[str, Any] = {"dataset": dataset}
        if context:
            item["tags"] = [{"key": "mlflow.data.context", "value": context}]
        self._op({"op": "inputs", "run_id": self.id}, {"datasets": [item]})

    def log_dataset(self, name: str, digest: str) -> None:
        """Records a dataset version this run produced (lineage: an output of this run)."""
        self._lineage({"outputs": [f"dataset:{name}@{digest}"]})

    def use_model(self, model_id: str) -> None:
        """Records a logged model this run consumed (lineage: an input of this run)."""
        self._lineage({"inputs": [f"model:{model_id}"]})

    def _lineage(self, body: dict[str, Any]) -> None:
        self._check_open()
        self._op({"op": "lineage", "run_id": self.id}, body)

    def _op(self, header: dict[str, Any], body: dict[str, Any]) -> None:
        if self._writer is not None:
            self._writer.op(header, json.dumps(body).encode())

    # ----- environment -----

    def _capture_environment(self) -> None:
        try:
            from .environment import capture

            captured = capture()
            if self._env_cancel.is_set():
                return
            self.set_tags(captured.tags)
            self.log_bytes(json.dumps(captured.document, indent=2, default=str).encode(), "environment.json")
            if captured.diff:
                self.log_bytes(captured.diff.encode(), "git/diff.patch")
        except UsageError:
            if not self._finished:
                log.exception("cairn: could not record the environment")
        except Exception:  # noqa: BLE001 — capture is best effort, never fatal
            log.exception("cairn: could not record the environment")

    # ----- finishing -----

    def finish(self, exit_code: int | None = None, *, status: str | None = None, timeout: float | None = None) -> bool:
        """Ends the run (FINISHED, or FAILED for a non-zero ``exit_code``) and waits up to
        ``timeout`` seconds (``Settings.finish_timeout`` by default) for delivery. Returns
        whether everything reached the server and was accepted; what did not stays in the run
        folder (undelivered records for the next process or ``cairn sync``; rejected ones in
        ``rejected.log``)."""
        global _current
        if self._finished:
            return True
        if status is None:
            status = "FINISHED" if not exit_code else "FAILED"
        status = status.upper()
        if status not in ("FINISHED", "FAILED", "KILLED"):
            raise UsageError(f"status must be FINISHED, FAILED or KILLED; got {status!r}")
        if self._monitor is not None:
            self._monitor.stop()
        if self._env_thread is not None:
            self._env_thread.join(10.0)
            self._env_cancel.set()
        explicit = self.summary.explicit()
        if explicit:
            self.set_tags({SUMMARY_PREFIX + k: json.dumps(v) for k, v in explicit.items()})
        self._finished = True
        with _current_lock:
            if _current is self:
                _current = None
        atexit.unregister(self._at_exit)
        if self._writer is None:
            return True
        self._writer.op({"op": "update", "run_id": self.id, "status": status, "end_time": _now_ms()})
        wait = self.settings.finish_timeout if timeout is None else timeout
        delivered = self._writer.close(wait)
        assert self.dir is not None and self._lock is not None
        self._lock.release()
        if self.mode == "offline":
            log.info("cairn: offline run saved in %s; upload it with `cairn sync %s`", self.dir, self.dir)
        elif delivered and self._writer.rejected_records == 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            return True
        else:
            log.warning(
                "cairn: run %s is not fully delivered yet; it stays in %s and the next run or "
                "`cairn sync %s` sends the rest",
                self.id,
                self.dir,
                self.dir,
            )
        return delivered and self._writer.rejected_records == 0

    def _at_exit(self) -> None:
        try:
            self.finish(status=_exit_status)
        except Exception:  # noqa: BLE001 — interpreter shutdown
            log.exception("cairn: could not finish run %s at exit", self.id)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is None:
            self.finish()
        elif issubclass(kind, KeyboardInterrupt):
            self.finish(status="KILLED")
        else:
            self.finish(status="FAILED")

    # ----- display -----

    @property
    def url(self) -> str:
        if self.experiment_id:
            return f"{self.settings.url}/#/experiments/{self.experiment_id}/runs/{self.id}"
        return f"{self.settings.url}/#/runs/{self.id}"

    def __repr__(self) -> str:
        return f"<cairn.Run {self.name or self.id} ({self.mode}) {self.url}>"

    def _repr_html_(self) -> str:
        from .display import run_html

        return run_html(self)


def _check_artifact_path(path: str) -> None:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise UsageError(f"Artifact path {path!r} must be relative, without '.' or '..' segments or doubled '/'")


def set_current(run: Run | None) -> None:
    global _current
    with _current_lock:
        _current = run
