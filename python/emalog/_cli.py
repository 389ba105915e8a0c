"""Finding and running the emalog binary."""
import os
import shutil
import subprocess


class EmalogError(RuntimeError):
    """emalog refused or failed; the message is emalog's own (what, where, how to fix)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


def binary():
    """The emalog binary: $EMALOG, else `emalog` on PATH."""
    path = os.environ.get("EMALOG")
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise EmalogError(f"$EMALOG is {path!r}, which is not an executable file: point it at the emalog binary "
                              "(e.g. .build/release/emalog) or unset it to use the one on PATH")
        return path
    found = shutil.which("emalog")
    if found is None:
        raise EmalogError("the emalog binary was not found: put it on PATH or set $EMALOG to its path "
                          "(build it with `swift build -c release`: .build/release/emalog)")
    return found


def error_text(stderr):
    """emalog's error lines from its stderr (without the `emalog: error: ` prefix), else all of it."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else stderr
    lines = [line.split("error: ", 1)[1] for line in text.splitlines() if line.startswith("emalog: error: ")]
    return "\n".join(lines) if lines else text.strip()


# The ingest flags the Logger passes, as its caller wrote them.
_LOGGER_ARGUMENTS = [
    ("pass --replace", "pass replace=True"), ("--replace", "replace=True"),
    ("pass --allow-nonfinite", "pass allow_nonfinite=True"), ("--allow-nonfinite", "allow_nonfinite=True"),
    ("--snapshot-every", "snapshot_every="), ("--keyframe-every", "keyframe_every="), ("--ema gives", "ema= gives"),
    ("(replace to overwrite)", "(replace=True to overwrite)"),
]


def in_python_words(text):
    """emalog's message with the CLI flags the Logger passed named as the Logger's arguments."""
    for flag, argument in _LOGGER_ARGUMENTS:
        text = text.replace(flag, argument)
    return text


def run(args):
    """Runs `emalog args`; returns its stdout bytes, or raises EmalogError with its message."""
    done = subprocess.run([binary(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise EmalogError(error_text(done.stderr) or f"emalog {args[0]} exited with {done.returncode}", done.returncode)
    return done.stdout
