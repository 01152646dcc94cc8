"""Checks of a Cairn database on PostgreSQL for the fault tests that run on it (`pgrestart.py`,
`replicas.py`), through the cluster's own `psql`.

- `commit_durably`: `synchronous_commit` on for the test's database (see its doc).

- `amcheck`: PostgreSQL's `amcheck` extension (shipped with the server) over the database:
  `bt_index_check(index, heapallindexed => true)` on every B-tree index of the public schema
  (each index's structure, and every heap tuple found in its index), and `verify_heapam` on
  every table (page and tuple damage).
- `series_check`: the metric engine's own invariants: each series' `raw_points`/`raw_segments`
  equal its raw segments' sums, every chunk holds 1–4096 points over an ordered step range, no
  two chunks of a series overlap (they may share one boundary step), and, per (run, key), how
  many points the stored segments and chunks hold — which, compared with the points the API
  returns, shows any batch stored twice even when the read merges the exact duplicates.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

# The largest chunk the compactor writes (`CHUNK_POINTS` in cairn-store).
CHUNK_POINTS = 4096


def psql(bin_dir: Path, url: str, script: str) -> subprocess.CompletedProcess[str]:
    """Runs `script` with `psql` on the database `url` names; rows come back tab-separated."""
    return subprocess.run(
        [str(bin_dir / "psql"), "-X", "-q", "-At", "-F", "\t", "-d", url],
        input=script,
        capture_output=True,
        text=True,
        timeout=600,
    )


def rows(bin_dir: Path, url: str, query: str) -> list[list[str]]:
    done = psql(bin_dir, url, "\\set ON_ERROR_STOP 1\n" + query)
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return [line.split("\t") for line in done.stdout.splitlines() if line]


def commit_durably(bin_dir: Path, url: str) -> None:
    """Turns `synchronous_commit` back on for the database `url` names. The throwaway cluster
    runs with it off, which lets a crash of PostgreSQL forget transactions it had reported
    committed; with it on, a commit is in the WAL before Cairn acknowledges the write, as on a
    production server."""
    name = url.rsplit("/", 1)[1]
    rows(bin_dir, url, f'ALTER DATABASE "{name}" SET synchronous_commit = on;')


def amcheck(bin_dir: Path, url: str) -> tuple[int, int, list[str]]:
    """(indexes checked, tables checked, problems found)."""
    rows(bin_dir, url, "CREATE EXTENSION IF NOT EXISTS amcheck;")
    indexes = [
        name
        for (name,) in rows(
            bin_dir,
            url,
            """SELECT c.relname FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid
                 JOIN pg_namespace n ON n.oid = c.relnamespace
                 JOIN pg_am a ON a.oid = c.relam
                WHERE n.nspname = 'public' AND a.amname = 'btree'
                ORDER BY 1;""",
        )
    ]
    # One statement per index, errors not stopping the script: an index that fails its check
    # is missing from the output and its error is on stderr.
    script = "".join(f"SELECT '{name}', bt_index_check('public.\"{name}\"'::regclass, true);\n" for name in indexes)
    done = psql(bin_dir, url, script)
    checked = {line.split("\t")[0] for line in done.stdout.splitlines() if line}
    problems = [f"index {name} failed bt_index_check" for name in indexes if name not in checked]
    problems += [line for line in done.stderr.splitlines() if "ERROR" in line]
    tables = rows(
        bin_dir,
        url,
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind = 'r';",
    )[0][0]
    damaged = rows(
        bin_dir,
        url,
        """SELECT c.relname, v.blkno, v.offnum, v.msg FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace,
             LATERAL verify_heapam(c.oid) v
            WHERE n.nspname = 'public' AND c.relkind = 'r';""",
    )
    problems += [f"table {name} block {block} item {item}: {message}" for name, block, item, message in damaged]
    return len(indexes), int(tables), problems


def series_check(bin_dir: Path, url: str) -> tuple[dict[tuple[str, str], int], list[str]]:
    """({(run id, key): points stored in segments and chunks}, problems found)."""
    problems = [
        f"series {series}: raw_points {points} / raw_segments {segments}, segments hold {held} in {count}"
        for series, points, segments, held, count in rows(
            bin_dir,
            url,
            """SELECT s.id, s.raw_points, s.raw_segments, coalesce(r.held, 0), coalesce(r.count, 0)
                 FROM metric_series s
                 LEFT JOIN (SELECT series_id, sum(points) AS held, count(*) AS count
                              FROM metric_raw GROUP BY series_id) r ON r.series_id = s.id
                WHERE s.raw_points <> coalesce(r.held, 0) OR s.raw_segments <> coalesce(r.count, 0);""",
        )
    ]
    problems += [
        f"chunk {chunk} of series {series}: {count} points over steps {low}..{high}"
        for chunk, series, count, low, high in rows(
            bin_dir,
            url,
            f"""SELECT id, series_id, count, min_step, max_step FROM metric_chunks
                 WHERE count < 1 OR count > {CHUNK_POINTS} OR min_step > max_step;""",
        )
    ]
    problems += [
        f"series {series}: chunks {a} and {b} overlap"
        for series, a, b in rows(
            bin_dir,
            url,
            """SELECT a.series_id, a.id, b.id FROM metric_chunks a
                 JOIN metric_chunks b ON b.series_id = a.series_id AND b.id > a.id
                WHERE a.min_step < b.max_step AND b.min_step < a.max_step;""",
        )
    ]
    stored = {
        (run, key): int(points)
        for run, key, points in rows(
            bin_dir,
            url,
            """SELECT r.run_uuid, s.key,
                      coalesce((SELECT sum(points) FROM metric_raw WHERE series_id = s.id), 0)
                    + coalesce((SELECT sum(count) FROM metric_chunks WHERE series_id = s.id), 0)
                 FROM metric_series s JOIN runs r ON r.id = s.run_id;""",
        )
    }
    return stored, problems
