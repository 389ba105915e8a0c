"""The team store (PostgreSQL): push a log, pull a run, list the runs."""
import json

from ._cli import run as _run


def push(db, to, run=None, rank=None, ranks=None, connections=2):
    """Pushes the local log `db` to run `run` (default: the log's id) of the team store `to`
    (postgresql://USER@HOST:PORT/DB): only what the server lacks; resumable. With `rank` and
    `ranks`, the log is that rank of sharded run `run`. Returns the CLI's one-line summary."""
    args = ["push", "--db", str(db), "--to", str(to), "--connections", str(int(connections))]
    if run is not None:
        args += ["--run", str(run)]
    if rank is not None or ranks is not None:
        args += ["--rank", str(int(rank)), "--ranks", str(int(ranks))]
    return _run(args).decode().strip()


def pull(db, run, out):
    """Writes run `run` of the team store `db` as a new local log file `out`."""
    return _run(["pull", "--db", str(db), "--run", str(run), "-o", str(out)]).decode().strip()


def runs(db):
    """The team store's runs: a list of dicts (name, steps, last_step, tensors, tracks,
    stored_bytes, metric_values, pushed_at, log_id)."""
    text = _run(["runs", "--db", str(db), "--format", "json"]).decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]
