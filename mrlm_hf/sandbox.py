"""Run untrusted Python code (a model's program) in a separate, resource-limited process.

``run_python(code)`` executes ``code`` in a fresh interpreter (``python -I -S``: isolated mode, no site-packages)
in its own temporary working directory, which is deleted afterwards, and returns an ``ExecutionResult``. It never
raises for anything the code does; bad arguments raise ``ValueError``. It uses no signals and no global state, so
it can be called from many threads at once; ``SandboxPool`` / ``run_many`` run batches on a bounded thread pool.

The threat model, and what is enforced where (with and without root, with and without namespaces), is stated in
ONE place: ``docs/sandbox.md``; keep it in step with this module. In short: untrusted code runs under a fresh
unprivileged uid, which needs a trainer running as root on Linux; elsewhere ``run_python`` raises
``SandboxUnavailableError`` unless the user opts in with ``MRLM_SANDBOX_ALLOW_UNISOLATED=1`` (or
``allow_unisolated=True``), and then the code runs as the trainer's own user. It never runs as root. On top come
a seccomp filter without sockets, network / PID / mount namespaces where the kernel allows them, a disk quota (a
tmpfs, or a watched total), rlimits, capped output and a supervisor that kills everything the code started.
``ExecutionResult.isolation`` says what was in force for each run; ``sandbox_capabilities()`` reports it for this
machine. On other platforms only the timeout, the output cap, the working directory and whatever of ``resource``
exists are applied, and only with the opt-in.

The parent's side lives here and the child's side in ``_sandbox_child/bootstrap.py`` (run by path). This module is
longer than most on purpose: it is one security boundary, kept in one file so that it can be reviewed against
docs/sandbox.md in one sitting.
"""

from __future__ import annotations

import json
import os
import random
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

try:
    import fcntl
except ImportError:  # not on Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ALLOW_UNISOLATED_ENV",
    "ExecutionResult",
    "SandboxPool",
    "SandboxUnavailableError",
    "run_many",
    "run_python",
    "sandbox_capabilities",
]

#: Exit status the bootstrap uses when it could not set the sandbox up (reported as ``error == "sandbox_error"``).
SETUP_FAILED_EXIT = 121
#: Exit status the bootstrap uses when it cannot isolate the code (before running it); ``run_python`` then raises.
REFUSED_EXIT = 122
#: Environment variable that, set to ``1``, lets code run without isolation (see ``SandboxUnavailableError``).
ALLOW_UNISOLATED_ENV = "MRLM_SANDBOX_ALLOW_UNISOLATED"
#: How long interpreter start-up may take before the run counts as timed out (seconds, on top of ``timeout``).
STARTUP_GRACE = 10.0
_READ_CHUNK = 65_536
_IS_LINUX = sys.platform.startswith("linux")

# Error kinds of ``ExecutionResult.error``.
TIMEOUT = "timeout"
OUTPUT_LIMIT = "output_limit"
MEMORY = "memory"
SIGNAL = "signal"
EXIT_STATUS = "exit_status"
SANDBOX_ERROR = "sandbox_error"
DISK_LIMIT = "disk_limit"
#: Seconds between two checks of the disk use where no mount namespace gives a quota (see ``run_python``).
DISK_CHECK_INTERVAL = 0.1
_TEMP_DIRS = ("/tmp", "/var/tmp", "/dev/shm")


class SandboxUnavailableError(RuntimeError):
    """The sandbox cannot isolate untrusted code on this machine, and running it unisolated was not allowed.

    Raised by ``run_python`` before the code runs; the message says why and how to get isolation."""


# Test hooks (never set them in real use): a pause of the supervisor right after it forks the code, as a loaded
# machine might make, and a switch for the seccomp filter (to test the mount-namespace socket cover on its own).
_TEST_HOOKS: dict[str, Any] = {"supervisor_delay": 0.0, "seccomp": True}


@dataclass
class ExecutionResult:
    """What one sandboxed execution did.

    ``error`` is ``None`` for a clean exit with status 0, else one of ``"timeout"`` (killed at the wall-clock
    limit), ``"output_limit"`` (killed for printing more than the cap), ``"disk_limit"`` (wrote more than the disk
    quota where no mount namespace enforces it, see ``isolation["disk_watched"]``), ``"sandbox_error"`` (the sandbox
    itself failed to start), ``"memory"`` (died of ``MemoryError``), ``"signal"`` (killed by a signal;
    ``returncode`` is ``-signum``) or ``"exit_status"`` (a non-zero exit status). ``duration`` is wall-clock seconds
    including the interpreter's start-up; ``isolation`` describes what was enforced (keys: docs/sandbox.md).
    """

    stdout: str
    stderr: str
    returncode: int | None
    timed_out: bool = False
    memory_exceeded: bool = False
    output_truncated: bool = False
    duration: float = 0.0
    error: str | None = None
    isolation: dict[str, Any] = field(default_factory=dict)
    disk_exceeded: bool = False

    @property
    def ok(self) -> bool:
        """True when the code ran to completion and exited with status 0."""
        return self.error is None


# The program the child interpreter runs first (``python -I -S <file>``): it reads the code, sets up namespaces,
# limits and the unprivileged uid, reports what it enforced on the "ready" pipe, then executes the code. It imports
# nothing outside the standard library (the child has no site-packages) and never imports this module (and with it
# dataclasses, subprocess, ...), which keeps start-up fast.
_BOOTSTRAP_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_sandbox_child", "bootstrap.py")


# ---------------------------------------------------------------------------------------------------- helpers
def _id_ranges(path: str) -> list[tuple[int, int]]:
    """Ids mapped into our user namespace, as ``[start, end)`` ranges (all ids when the map is unreadable)."""
    try:
        with open(path) as f:
            rows = [line.split() for line in f if line.strip()]
        return [(int(r[0]), int(r[0]) + int(r[2])) for r in rows]
    except (OSError, ValueError, IndexError):
        return [(0, 2**32 - 1)]


def _pick_uid() -> int | None:
    """A random unprivileged uid (also used as gid) for one run, or None when we cannot switch users."""
    if not _IS_LINUX or os.geteuid() != 0:
        return None
    uids, gids = _id_ranges("/proc/self/uid_map"), _id_ranges("/proc/self/gid_map")
    rng = random.SystemRandom()
    for lo, hi in ((1_000_000, 2_000_000_000), (20_000, 65_000)):
        spans = []
        for ulo, uhi in uids:
            for glo, ghi in gids:
                a, b = max(lo, ulo, glo), min(hi, uhi, ghi)
                if a < b:
                    spans.append((a, b))
        if spans:
            a, b = rng.choice(spans)
            return rng.randrange(a, b)
    return None


def _safe_relpath(name: str) -> str:
    """Validate a ``files`` key: a relative path without ``..`` components."""
    norm = os.path.normpath(name)
    if not name or os.path.isabs(name) or norm.startswith("..") or "\x00" in name or norm in (".", ""):
        raise ValueError(f"files keys must be relative paths inside the working directory, got {name!r}")
    return norm


def _rmtree(path: str) -> None:
    """Delete a directory tree, making directories the code chmod-ed unreadable writable first."""

    def onerror(func: Any, p: str, exc_info: Any) -> None:
        try:
            os.chmod(os.path.dirname(p), stat.S_IRWXU)
            os.chmod(p, stat.S_IRWXU)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, OSError):
        pass


def _exited_without_reaping(proc: subprocess.Popen) -> bool:
    """Whether the child has exited, leaving it a zombie so its pid (our process-group id) cannot be reused yet.
    Without ``waitid`` (macOS) the child is reaped, which the pgid reuse race there accepts."""
    if not hasattr(os, "waitid"):
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _wait_without_reaping(proc: subprocess.Popen, pidfd: int | None, timeout: float) -> None:
    """Wait up to ``timeout`` seconds for ``pid`` to exit, leaving it unreaped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pidfd is not None:
            with selectors.DefaultSelector() as sel:
                sel.register(pidfd, selectors.EVENT_READ)
                if sel.select(deadline - time.monotonic()):
                    return
        elif _exited_without_reaping(proc):
            return
        else:
            time.sleep(0.005)


def _disk_used(work: str, uid: int | None, stop_at: int, seen: dict[str, tuple[int, list[str]]]) -> int:
    """Bytes the run occupies: its working directory plus, for a sandbox uid, what that uid owns directly under the
    temporary directories (every entry counts at least 4 KiB; stops counting past ``stop_at``). ``seen`` caches
    each temporary directory's entries of the uid until that directory changes (a busy ``/tmp`` is large)."""
    total, stack = 0, [work]
    if uid is not None:
        for d in _TEMP_DIRS:
            try:
                mtime = os.stat(d).st_mtime_ns
                if d not in seen or seen[d][0] != mtime:
                    seen[d] = (mtime, [e.path for e in os.scandir(d) if e.stat(follow_symlinks=False).st_uid == uid])
                stack += seen[d][1]
            except OSError:
                pass
    while stack and total <= stop_at:
        path = stack.pop()
        try:
            st = os.lstat(path)
        except OSError:
            continue
        total += max(st.st_blocks * 512, 4096)
        if stat.S_ISDIR(st.st_mode):
            try:
                stack += [e.path for e in os.scandir(path)]
            except OSError:
                pass
    return total


def _remove_owned_by(uid: int) -> None:
    """Delete what the sandbox ``uid`` (fresh for each run) left directly under the temporary directories."""
    for d in _TEMP_DIRS:
        try:
            entries = [e for e in os.scandir(d) if e.stat(follow_symlinks=False).st_uid == uid]
        except OSError:
            continue
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                _rmtree(e.path)
            else:
                try:
                    os.unlink(e.path)
                except OSError:
                    pass


def _parse_isolation(ready: bytes | bytearray) -> dict[str, Any]:
    """The status line the bootstrap wrote on the ready pipe (empty if it never got that far)."""
    try:
        value = json.loads(bytes(ready).decode("utf-8", errors="replace").splitlines()[0])
    except (ValueError, IndexError):
        return {}
    return value if isinstance(value, dict) else {}


def _is_memory_error(stderr: str) -> bool:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    return bool(lines) and lines[-1].startswith("MemoryError")


def _decode(data: bytes | bytearray) -> str:
    return bytes(data).decode("utf-8", errors="replace")


# ---------------------------------------------------------------------------------------------------- run_python
def run_python(
    code: str,
    *,
    stdin: str = "",
    timeout: float = 2.0,
    memory_mb: int | None = 512,
    max_output_bytes: int = 64_000,
    files: dict[str, str | bytes] | None = None,
    file_size_mb: int = 16,
    max_processes: int = 16,
    allow_subprocess: bool = False,
    namespaces: bool = True,
    disk_mb: int | None = None,
    allow_unisolated: bool | None = None,
) -> ExecutionResult:
    """Run ``code`` as ``__main__`` in a sandboxed interpreter and return what happened (never raises for what the
    code does; raises ``SandboxUnavailableError`` before running it when it cannot be isolated, see below).

    Args:
        code: Python source.
        stdin: text fed to the program's standard input.
        timeout: wall-clock seconds the code may run (start-up excluded; fractions work). Also sets ``RLIMIT_CPU``.
        memory_mb: address-space limit (``RLIMIT_AS``); ``None`` for none. Values below ~64 may keep the
            interpreter from working at all.
        max_output_bytes: cap on each of stdout and stderr; more kills the child (``error == "output_limit"``).
        files: extra files to create in the working directory first, ``{relative path: content}``.
        file_size_mb: ``RLIMIT_FSIZE``: the largest file the code may write.
        max_processes: ``RLIMIT_NPROC`` for the child's uid (processes and threads).
        allow_subprocess: keep ``os.fork``/``subprocess`` usable (still bounded by ``max_processes``).
        namespaces: try Linux namespaces (network, PID, mount) when running as root. ``False`` behaves as a
            container without the privilege for them (tests use it).
        disk_mb: quota on everything the code writes (working directory, ``/tmp``, ``/var/tmp``, ``/dev/shm``
            together); default ``4 * file_size_mb``. A tmpfs enforces it where a mount namespace exists (writes
            past it fail); elsewhere it is checked every ``DISK_CHECK_INTERVAL`` s (``error == "disk_limit"``).
        allow_unisolated: run even where the code cannot get its own unprivileged uid (a trainer that is not
            root, or not Linux); it then runs as the trainer's user. ``None`` (default) reads the environment
            variable ``MRLM_SANDBOX_ALLOW_UNISOLATED`` (``1`` allows). Code never runs as root either way.

    Raises:
        SandboxUnavailableError: isolation is unavailable and not allowed (message says how to get it).
    """
    if not isinstance(timeout, int | float) or not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    if memory_mb is not None and memory_mb <= 0:
        raise ValueError(f"memory_mb must be positive or None, got {memory_mb!r}")
    if max_output_bytes < 0 or file_size_mb <= 0 or max_processes <= 0:
        raise ValueError("max_output_bytes, file_size_mb and max_processes must be positive")
    if disk_mb is not None and not disk_mb > 0:
        raise ValueError(f"disk_mb must be positive or None, got {disk_mb!r}")
    allowed = _allow_unisolated(allow_unisolated)  # checked on every call, so a typo in the variable shows at once
    uid = _pick_uid()
    if uid is None:
        _refuse_without_uid(allowed)
    if not isinstance(code, str):
        code = _decode(code) if isinstance(code, bytes | bytearray) else str(code)
    code = code.encode("utf-8", errors="replace").decode("utf-8")
    stdin_bytes = stdin.encode("utf-8", errors="replace") if isinstance(stdin, str) else bytes(stdin)
    checked_files = {_safe_relpath(k): v for k, v in (files or {}).items()}

    start = time.monotonic()
    base = tempfile.mkdtemp(prefix="mrlm-sandbox-")
    try:
        return _run_in(
            base,
            code,
            stdin_bytes,
            checked_files,
            timeout=float(timeout),
            memory_mb=memory_mb,
            max_output_bytes=max_output_bytes,
            file_size_mb=file_size_mb,
            max_processes=max_processes,
            allow_subprocess=allow_subprocess,
            namespaces=namespaces,
            disk_mb=4 * file_size_mb if disk_mb is None else disk_mb,
            uid=uid,
            start=start,
        )
    finally:
        _rmtree(base)


def _allow_unisolated(value: bool | None) -> bool:
    """The opt-in: ``value`` when given, else the environment variable ``MRLM_SANDBOX_ALLOW_UNISOLATED``."""
    if value is not None:
        return bool(value)
    raw = os.environ.get(ALLOW_UNISOLATED_ENV, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{ALLOW_UNISOLATED_ENV}={raw!r}: use 1 to run code without isolation, or 0 / unset")


_HOW_TO_ISOLATE = (
    "To isolate it, start the trainer as root (the default user in containers) on Linux: every run then switches "
    "to a fresh unprivileged uid, which needs only CAP_SETUID and CAP_SETGID (granted by Docker's default "
    "profile); namespaces (CAP_SYS_ADMIN, e.g. `docker run --cap-add SYS_ADMIN` or an unconfined seccomp "
    "profile) add a private network, PID and mount namespace with a disk quota. See docs/sandbox.md."
)


def _refuse_without_uid(allowed: bool) -> None:
    """Raise unless the code may run as the trainer's own user (no uid to switch to)."""
    if _IS_LINUX and os.geteuid() == 0:
        raise SandboxUnavailableError(
            "mrlm_hf.sandbox cannot run untrusted code: the trainer runs as root but no unprivileged uid is mapped "
            "into its user namespace, and code never runs as root. Map a range of uids (e.g. /etc/subuid for "
            "rootless containers) or start the trainer as root in a container with its usual uid range."
        )
    if allowed:
        return
    who = f"uid {os.getuid()} (not root)" if hasattr(os, "getuid") else f"an unprivileged user on {sys.platform}"
    raise SandboxUnavailableError(
        f"mrlm_hf.sandbox refuses to run untrusted code without isolation: the trainer runs as {who}, so the code "
        "would run as the same user and could read the trainer's files and environment (an HF_TOKEN through "
        "/proc/<pid>/environ), signal it and write wherever it can. "
        + _HOW_TO_ISOLATE
        + f" To accept the risk (trusted code, a throw-away VM), set {ALLOW_UNISOLATED_ENV}=1 or pass "
        "allow_unisolated=True: the limits (time, memory, file size, output, processes) still hold."
    )


def _run_in(
    base: str,
    code: str,
    stdin_bytes: bytes,
    files: dict[str, str | bytes],
    *,
    timeout: float,
    memory_mb: int | None,
    max_output_bytes: int,
    file_size_mb: int,
    max_processes: int,
    allow_subprocess: bool,
    namespaces: bool,
    disk_mb: float,
    uid: int | None,
    start: float,
) -> ExecutionResult:
    program = os.path.join(base, "main.py")
    with open(program, "w", encoding="utf-8") as f:
        f.write(code)
    work = os.path.join(base, "work")
    os.mkdir(work, 0o700)
    for rel, content in files.items():
        path = os.path.join(work, rel)
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        with open(path, "wb") as f:
            f.write(content.encode("utf-8") if isinstance(content, str) else bytes(content))
        if uid is not None:
            while os.path.realpath(parent) != os.path.realpath(work):
                os.chown(parent, uid, uid)
                parent = os.path.dirname(parent)
            os.chown(path, uid, uid)
    if uid is not None:
        os.chown(work, uid, uid)

    posix = os.name == "posix"
    ready_r, ready_w = os.pipe() if posix else (-1, -1)
    config = {
        "program": program,
        "uid": uid,
        "namespaces": namespaces and _IS_LINUX,
        "ready_fd": ready_w,
        "cpu_seconds": int(timeout) + 1,
        "file_bytes": file_size_mb * 1024 * 1024,
        "memory_bytes": None if memory_mb is None else memory_mb * 1024 * 1024,
        "max_processes": max_processes,
        "block_subprocess": not allow_subprocess,
        "disk_kb": max(int(disk_mb * 1024), 64),
        "disk_inodes": 16_384,
        "seccomp": bool(_TEST_HOOKS["seccomp"]),
        "supervisor_delay": float(_TEST_HOOKS["supervisor_delay"]),
        "setup_failed_exit": SETUP_FAILED_EXIT,
        "refused_exit": REFUSED_EXIT,
    }
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": work, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    argv = [sys.executable or "python3", "-I", "-S", "-X", "utf8", _BOOTSTRAP_PATH, json.dumps(config)]
    stdin_file = _stdin_source(stdin_bytes)
    try:
        kwargs: dict[str, Any] = {"start_new_session": True, "pass_fds": (ready_w,)} if posix else {}
        try:
            proc = subprocess.Popen(
                argv,
                stdin=stdin_file,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=work,
                env=env,
                close_fds=True,
                **kwargs,
            )
        except OSError as exc:
            return ExecutionResult(
                "", f"could not start the sandbox: {exc}", None, error=SANDBOX_ERROR, duration=time.monotonic() - start
            )
        finally:
            if posix:
                os.close(ready_w)
        try:
            watch = (work, uid, int(disk_mb * 2**20))
            result = _supervise(proc, ready_r, timeout, max_output_bytes, start, watch)
        finally:
            if posix:
                os.close(ready_r)
    finally:
        stdin_file.close()
    if uid is not None and not result.isolation.get("mnt"):
        _remove_owned_by(uid)  # what the code left in the shared temporary directories
    marker = "sandbox isolation unavailable: "
    if result.returncode == REFUSED_EXIT and not result.isolation and result.stderr.startswith(marker):
        # Before the status line, so the code never ran (and cannot fake this).
        reason = result.stderr[len(marker) :].strip()
        raise SandboxUnavailableError(
            f"mrlm_hf.sandbox cannot run untrusted code: {reason}, and code never runs as root. " + _HOW_TO_ISOLATE
        )
    return result


def _communicate(proc: subprocess.Popen, timeout: float, cap: int, start: float) -> ExecutionResult:
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        timed_out = True
    truncated = len(out) > cap or len(err) > cap
    stdout, stderr = _decode(out[:cap]), _decode(err[:cap])
    memory = not timed_out and proc.returncode != 0 and _is_memory_error(stderr)
    error = TIMEOUT if timed_out else OUTPUT_LIMIT if truncated else MEMORY if memory else None
    if error is None and proc.returncode != 0:
        error = EXIT_STATUS
    return ExecutionResult(
        stdout, stderr, proc.returncode, timed_out, memory, truncated, time.monotonic() - start, error
    )


def _stdin_source(data: bytes) -> Any:
    """A readable file object holding ``data`` for the child's stdin: a pipe whenever the data fits in one (what
    the child reads from a pipe is gone, so it cannot re-read its input through ``/proc/self/fd/0`` or
    ``lseek``), else an unlinked temporary file."""
    if os.name == "posix":
        r, w = os.pipe()
        try:
            if len(data) > 65_536 and hasattr(fcntl, "F_SETPIPE_SZ"):
                try:
                    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, len(data))
                except OSError:
                    pass
            os.set_blocking(w, False)
            view = memoryview(data)
            while view:
                view = view[os.write(w, view) :]
            os.close(w)
            return os.fdopen(r, "rb")
        except OSError:  # does not fit (BlockingIOError) or no pipes: use a file
            os.close(r)
            try:
                os.close(w)
            except OSError:
                pass
    f = tempfile.TemporaryFile()
    f.write(data)
    f.seek(0)
    return f


def _supervise(
    proc: subprocess.Popen,
    ready_r: int,
    timeout: float,
    cap: int,
    start: float,
    watch: tuple[str, int | None, int] | None = None,
) -> ExecutionResult:
    """Read the child's output until it exits, the deadline passes or the output cap is hit; then clean up.

    ``watch`` is ``(working directory, uid, bytes)``: where the child reports no disk quota of its own, the disk
    use of the working directory and of the uid's entries in the temporary directories is checked every
    ``DISK_CHECK_INTERVAL`` seconds and once more at the end; the run is killed (``error == "disk_limit"``) once
    it exceeds ``bytes``."""
    posix = ready_r >= 0
    if not posix:  # Windows: selectors cannot wait on pipes; no incremental cap, start-up counts toward the timeout
        return _communicate(proc, timeout, cap, start)
    out, err, ready_buf = bytearray(), bytearray(), bytearray()
    buffers = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    deadline = time.monotonic() + timeout + STARTUP_GRACE
    timed_out = truncated = exited = disk_exceeded = False
    pidfd = None
    watching, next_check, seen = False, 0.0, {}
    sel = selectors.DefaultSelector()
    try:
        for fd in buffers:
            sel.register(fd, selectors.EVENT_READ)
        if posix:
            sel.register(ready_r, selectors.EVENT_READ)
            if hasattr(os, "pidfd_open"):
                try:
                    pidfd = os.pidfd_open(proc.pid)
                    sel.register(pidfd, selectors.EVENT_READ)
                except OSError:
                    pidfd = None
        open_streams = set(buffers)
        while open_streams:
            now = time.monotonic()
            if now >= deadline:
                timed_out = not exited
                break
            wait = deadline - now
            if posix and pidfd is None and not exited:
                wait = min(wait, 0.02)  # no pidfd: poll for the child's exit
            if watching:
                wait = max(0.0, min(wait, next_check - now))
            for key, _ in sel.select(wait):
                fd = key.fd
                if fd == pidfd:
                    exited = True
                    sel.unregister(fd)
                elif fd == ready_r:
                    chunk = os.read(fd, 4096)
                    if chunk and len(ready_buf) < 4096:
                        ready_buf += chunk
                    else:
                        sel.unregister(fd)
                    if chunk.endswith(b"\n"):  # the code starts now: restart the clock
                        deadline = time.monotonic() + timeout
                        reported = _parse_isolation(ready_buf)
                        if watch is not None and reported and reported.get("disk_mb") is None:
                            watching, next_check = True, time.monotonic() + DISK_CHECK_INTERVAL
                else:
                    chunk = os.read(fd, _READ_CHUNK)
                    if not chunk:
                        sel.unregister(fd)
                        open_streams.discard(fd)
                        continue
                    buf = buffers[fd]
                    room = cap - len(buf)
                    buf += chunk[: max(room, 0)]
                    if len(chunk) > room:
                        truncated = True
            if truncated:
                break
            if watching and not exited and time.monotonic() >= next_check:
                disk_exceeded = _disk_used(*watch, seen) > watch[2]
                if disk_exceeded:
                    break
                next_check = time.monotonic() + DISK_CHECK_INTERVAL
            if posix and not exited and pidfd is None:
                exited = _exited_without_reaping(proc)
            if exited and posix:
                _kill_group(proc.pid)  # stragglers of a finished run would keep the pipes open
            elif not posix and proc.poll() is not None and not open_streams:
                break
    finally:
        sel.close()
        if watching and not disk_exceeded and not timed_out and not truncated:
            disk_exceeded = _disk_used(*watch, seen) > watch[2]  # what it wrote since the last check
        isolation = _parse_isolation(ready_buf)
        if watching:
            isolation.update(disk_mb=watch[2] / 2**20, disk_watched=True)
        if posix:
            if not exited and isolation.get("supervised"):
                # A supervised run: on SIGTERM the supervisor kills the code and reaps it and its orphans. Killing
                # the group outright would leave them as zombies for whoever reaps orphans (maybe nobody).
                try:
                    os.kill(proc.pid, signal.SIGTERM)
                except OSError:
                    pass
                _wait_without_reaping(proc, pidfd, 2.0)
            _kill_group(proc.pid)  # the leader is unreaped until proc.wait(), so its pgid cannot be recycled
        else:
            proc.kill()
        if pidfd is not None:
            os.close(pidfd)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    stdout, stderr = _decode(out), _decode(err)
    returncode = proc.returncode
    memory = not timed_out and not truncated and returncode != 0 and _is_memory_error(stderr)
    if timed_out:
        error: str | None = TIMEOUT
    elif truncated:
        error = OUTPUT_LIMIT
    elif disk_exceeded:
        error = DISK_LIMIT
    elif returncode == SETUP_FAILED_EXIT and not isolation and stderr.startswith("sandbox setup failed"):
        error = SANDBOX_ERROR
    elif memory:
        error = MEMORY
    elif returncode is not None and returncode < 0:
        error = SIGNAL
    elif returncode != 0:
        error = EXIT_STATUS
    else:
        error = None
    return ExecutionResult(
        stdout=stdout,
        stderr=stderr,
        returncode=returncode,
        timed_out=timed_out,
        memory_exceeded=memory,
        output_truncated=truncated,
        duration=time.monotonic() - start,
        error=error,
        isolation=isolation,
        disk_exceeded=disk_exceeded,
    )


# ---------------------------------------------------------------------------------------------------- batches
class SandboxPool:
    """Run many sandboxed executions concurrently on at most ``max_workers`` threads (one child process each).

    ``run`` executes one program, ``submit`` returns a ``Future``, ``map`` runs a batch and returns the results in
    input order. Keyword arguments are those of ``run_python``. Use as a context manager or call ``close()``.
    """

    def __init__(self, max_workers: int = 4) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        self.max_workers = max_workers
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="mrlm-sandbox")

    def submit(self, code: str, **kwargs: Any) -> Future[ExecutionResult]:
        """Schedule ``run_python(code, **kwargs)``."""
        return self._executor.submit(run_python, code, **kwargs)

    def run(self, code: str, **kwargs: Any) -> ExecutionResult:
        """Run one program through the pool and wait for it."""
        return self.submit(code, **kwargs).result()

    def map(self, codes: Iterable[str], **kwargs: Any) -> list[ExecutionResult]:
        """Run every program in ``codes`` (same keyword arguments) and return the results in order."""
        futures = [self.submit(code, **kwargs) for code in codes]
        return [f.result() for f in futures]

    def close(self) -> None:
        """Wait for running executions and release the threads."""
        self._executor.shutdown(wait=True)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def run_many(codes: Sequence[str], max_workers: int = 4, **kwargs: Any) -> list[ExecutionResult]:
    """Run ``codes`` through a temporary ``SandboxPool`` and return the results in order."""
    with SandboxPool(max_workers) as pool:
        return pool.map(codes, **kwargs)


_CAPS_LOCK = threading.Lock()
_CAPS: dict[str, Any] = {}


def sandbox_capabilities() -> dict[str, Any]:
    """What the sandbox enforces on this machine (runs one trivial program once and caches its ``isolation``):
    ``uid`` (the unprivileged uid, or None), ``net``/``pid``/``mnt`` (namespaces), ``nproc`` (RLIMIT_NPROC set),
    ``no_subprocess`` (the process-creation preamble)."""
    with _CAPS_LOCK:
        if not _CAPS:
            try:
                result = run_python("pass", timeout=10.0, allow_unisolated=True)  # trusted code: just ask
                _CAPS.update(result.isolation)
            except SandboxUnavailableError as exc:
                _CAPS.update(isolated=False, refused=str(exc))
        return dict(_CAPS)
