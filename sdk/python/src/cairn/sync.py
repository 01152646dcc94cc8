"""``cairn sync``: deliver what runs left in their folders (offline runs, or online runs whose
server was away when they finished).

Delivery resumes from each spool's ``ack`` position, so syncing twice sends nothing the second
time, and a sync interrupted half-way continues where it stopped. A folder still held by a live
process is skipped.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from .deliver import Deliverer, Rejected, Retry, keep_rejected
from .http import Http
from .settings import Settings
from .spool import RunLock, Spool

log = logging.getLogger("cairn")


@dataclass
class SyncResult:
    run_id: str
    directory: Path
    delivered: int = 0
    rejected: int = 0
    complete: bool = False
    skipped: str | None = None
    error: str | None = None


def run_dirs(path: Path) -> list[Path]:
    """Run folders under ``path``: itself, its ``runs/`` children, or its children."""
    if (path / "meta.json").exists():
        return [path]
    base = path / "runs" if (path / "runs").is_dir() else path
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / "meta.json").exists())


def sync_run(run_dir: Path, settings: Settings, *, url: str | None = None) -> SyncResult:
    meta = json.loads((run_dir / "meta.json").read_text())
    result = SyncResult(run_id=meta.get("run_id", run_dir.name), directory=run_dir)
    lock = RunLock(run_dir / "lock")
    if not lock.held:
        result.skipped = "in use by a running process"
        return result
    try:
        spool = Spool(run_dir / "spool")
        reader = spool.reader()
        http = Http(url or settings.url, token=settings.token, timeout=settings.request_timeout)
        deliverer = Deliverer(http, run_dir, settings)
        try:
            while True:
                record = reader.next()
                if record is None:
                    result.complete = True
                    break
                try:
                    deliverer.deliver(record)
                    result.delivered += 1
                except Retry as e:
                    result.error = str(e)
                    break
                except Rejected as e:
                    result.rejected += 1
                    keep_rejected(run_dir, record, str(e))
                reader.ack(record)
                deliverer.cleanup(record)
        finally:
            reader.close()
            http.close()
        if result.complete:
            meta["synced"] = True
            (run_dir / "meta.json").write_text(json.dumps(meta))
    finally:
        lock.release()
    return result


def sync(
    path: Path,
    settings: Settings,
    *,
    url: str | None = None,
    only_online: bool = False,
    exclude: str | None = None,
) -> list[SyncResult]:
    """Syncs every run folder under ``path``. Fully delivered folders of online runs are
    removed; offline folders stay (marked synced) until you delete them."""
    results = []
    for run_dir in run_dirs(path):
        try:
            meta = json.loads((run_dir / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        if exclude and meta.get("run_id") == exclude:
            continue
        if only_online and meta.get("mode") != "online":
            continue
        result = sync_run(run_dir, settings, url=url)
        results.append(result)
        if result.complete and result.rejected == 0 and meta.get("mode") == "online":
            shutil.rmtree(run_dir, ignore_errors=True)
    return results


def recover_in_background(settings: Settings, own_run_id: str) -> None:
    """Sends what earlier online runs left in ``settings.dir`` (the next process delivers
    what a previous one could not). Runs on a daemon thread; never raises."""
    import threading

    def work() -> None:
        try:
            for result in sync(settings.dir, settings, only_online=True, exclude=own_run_id):
                if result.delivered:
                    log.info(
                        "cairn: delivered %d spooled records of earlier run %s",
                        result.delivered,
                        result.run_id,
                    )
        except Exception:  # noqa: BLE001
            log.exception("cairn: could not deliver earlier runs' spools")

    threading.Thread(target=work, name="cairn-recover", daemon=True).start()
