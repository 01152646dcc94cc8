"""The ``cairn`` command of the Python package: ``cairn sync [DIR]`` and ``cairn status [DIR]``.

Any other command (``cairn server`` …) is handed to the Cairn server binary when one is on
``PATH`` (or named by ``CAIRN_SERVER_BIN``), so installing the SDK does not hide it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from . import settings as settings_module
from .spool import Spool
from .sync import run_dirs, sync


def _server_binary() -> str | None:
    named = os.environ.get("CAIRN_SERVER_BIN")
    if named:
        return named
    me = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        candidate = os.path.join(folder, "cairn")
        if os.access(candidate, os.X_OK) and os.path.realpath(candidate) != me:
            with open(candidate, "rb") as f:
                if f.read(2) != b"#!":  # a script: another Python entry point, not the server
                    return candidate
    return None


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in and args_in[0] not in ("sync", "status", "-h", "--help"):
        binary = _server_binary()
        if binary:
            os.execv(binary, [binary, *args_in])
        print(f"cairn: unknown command {args_in[0]!r} (no cairn server binary on PATH)", file=sys.stderr)
        return 2

    parser = argparse.ArgumentParser(prog="cairn", description="Cairn SDK commands")
    sub = parser.add_subparsers(dest="command", required=True)
    p_sync = sub.add_parser("sync", help="upload offline runs and undelivered spools")
    p_sync.add_argument("dir", nargs="?", help="a run folder or a Cairn folder (default CAIRN_DIR or ./.cairn)")
    p_sync.add_argument("--url", help="server URL (default CAIRN_URL or http://127.0.0.1:5000)")
    p_sync.add_argument("--clean", action="store_true", help="remove offline run folders once synced")
    p_status = sub.add_parser("status", help="list run folders and what each still has to send")
    p_status.add_argument("dir", nargs="?")
    args = parser.parse_args(args_in)

    settings = settings_module.resolve(url=getattr(args, "url", None))
    path = Path(args.dir) if args.dir else settings.dir
    if args.command == "status":
        for run_dir in run_dirs(path):
            meta = json.loads((run_dir / "meta.json").read_text())
            pending = Spool(run_dir / "spool").pending()
            print(f"{meta.get('run_id')}  {meta.get('mode'):8} {'pending' if pending else 'synced'}  {run_dir}")
        return 0

    results = sync(path, settings, url=args.url)
    if not results:
        print(f"cairn sync: no run folders under {path}")
        return 0
    failed = 0
    for r in results:
        if r.skipped:
            print(f"{r.run_id}: skipped ({r.skipped})")
        elif r.complete:
            note = f", {r.rejected} rejected (see rejected.log)" if r.rejected else ""
            print(f"{r.run_id}: synced, {r.delivered} records sent{note}")
            if args.clean and r.directory.exists() and r.rejected == 0:
                shutil.rmtree(r.directory, ignore_errors=True)
        else:
            failed += 1
            print(f"{r.run_id}: incomplete after {r.delivered} records: {r.error}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
