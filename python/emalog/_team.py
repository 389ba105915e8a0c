"""The team store (PostgreSQL): push a log, pull a run, list the runs."""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

from ._cli import run as _run
from ._cli import run_json_lines


def push(db: "str | os.PathLike[str]", to: str, run: Optional[str] = None, rank: Optional[int] = None,
         ranks: Optional[int] = None, connections: int = 2, repair: bool = False) -> Dict[str, Any]:
    """Pushes a local log to a run of a team store, sending only what the server lacks (resumable).

    Args:
        db: the local log file.
        to: the team store, postgresql://USER@HOST:PORT/DB (a password belongs in PGPASSWORD or ~/.pgpass).
        run: the run's name (default: the log's id).
        rank, ranks: the log is rank `rank` of `ranks` of sharded run `run`.
        connections: uploads side by side.
        repair: have the server hash every body of the run and write the damaged ones again.

    Returns:
        What was pushed (`push --format json`): run, steps, replaced_steps, removed_steps, snapshots,
        deleted_snapshots, bodies, body_bytes, shared_bytes, repaired_bodies, metric_blocks,
        metric_values, seconds, up_to_date.
    """
    args = ["push", "--db", os.fspath(db), "--to", str(to), "--connections", str(int(connections)), "--format", "json"]
    if run is not None:
        args += ["--run", str(run)]
    if rank is not None or ranks is not None:
        args += ["--rank", str(int(rank)), "--ranks", str(int(ranks))]
    if repair:
        args.append("--repair")
    return json.loads(_run(args))


def pull(db: str, run: str, out: "str | os.PathLike[str]") -> Dict[str, Any]:
    """Writes run `run` of the team store `db` as a new local log file `out` (never over a file).

    Returns:
        What was pulled (`pull --format json`): run, steps, snapshots, metric_values, bytes, seconds.
    """
    return json.loads(_run(["pull", "--db", str(db), "--run", str(run), "-o", os.fspath(out), "--format", "json"]))


def runs(db: str) -> List[Dict[str, Any]]:
    """The team store's runs.

    Returns:
        One dict per run: name, log_id, pushed_at, steps, last_step, tensors, tracks,
        stored_bytes, metric_values.
    """
    return run_json_lines(["runs", "--db", str(db), "--format", "json"])
