"""Tests of the code sandbox: normal runs, limits, and hostile programs that must leave this process unharmed."""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mrlm_hf import sandbox
from mrlm_hf.sandbox import (
    ExecutionResult,
    SandboxPool,
    SandboxUnavailableError,
    run_many,
    run_python,
    sandbox_capabilities,
)

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's isolation is Linux-specific")

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = os.geteuid() == 0


def _sandbox_processes(result: ExecutionResult) -> list[int]:
    """Live processes left by the run: those of its uid (root runs) or any process still running a sandbox."""
    uid = result.isolation.get("uid")
    found = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if uid is not None:
                if os.stat(f"/proc/{p}").st_uid == uid:
                    found.append(int(p))
            elif b"mrlm-sandbox-" in Path(f"/proc/{p}/cmdline").read_bytes() and int(p) != os.getpid():
                found.append(int(p))
        except OSError:
            pass
    return found


def _assert_sandbox_still_works() -> None:
    result = run_python("print('still alive')")
    assert result.ok and result.stdout == "still alive\n", result


# ---------------------------------------------------------------------------------------------------- basics
def test_runs_code_and_captures_stdout_stderr_and_status() -> None:
    result = run_python("import sys\nprint('out', 6 * 7)\nprint('err', file=sys.stderr)\nsys.exit(0)")
    assert result.stdout == "out 42\n" and result.stderr == "err\n"
    assert result.returncode == 0 and result.error is None and result.ok
    assert not result.timed_out and not result.output_truncated and not result.memory_exceeded
    assert 0 < result.duration < 10


def test_stdin_and_files_reach_the_program() -> None:
    code = (
        "import sys\nprint(sys.stdin.read()[::-1])\nprint(open('data/in.txt').read())\nprint(open('b.bin','rb').read())"
    )
    result = run_python(code, stdin="abc", files={"data/in.txt": "hello file", "b.bin": b"\x00\x01"})
    assert result.stdout == "cba\nhello file\nb'\\x00\\x01'\n", result


@pytest.mark.parametrize("name", ["/etc/passwd", "../escape.txt", "a/../../escape.txt", ""])
def test_files_outside_the_working_directory_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        run_python("pass", files={name: "x"})


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"timeout": -1.0}, {"memory_mb": 0}, {"max_processes": 0}])
def test_bad_arguments_raise(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        run_python("pass", **kwargs)


def test_exceptions_and_syntax_errors_give_a_traceback_of_the_code_only() -> None:
    result = run_python("def f(x):\n    return 1 / x\nf(0)")
    assert result.returncode == 1 and result.error == "exit_status"
    assert "ZeroDivisionError" in result.stderr and 'File "main.py", line 2' in result.stderr
    assert "return 1 / x" in result.stderr  # source lines are shown
    assert "<string>" not in result.stderr  # no frames of the sandbox's bootstrap
    result = run_python("def f(:\n    pass")
    assert result.returncode == 1 and "SyntaxError" in result.stderr


def test_interpreter_is_isolated_from_site_packages_and_working_directory_is_private_and_deleted() -> None:
    result = run_python("import os\nprint(os.getcwd())\nopen('mine.txt', 'w').write('ok')\nimport pytest")
    assert "ModuleNotFoundError" in result.stderr  # no site-packages in the child
    workdir = result.stdout.strip()
    assert workdir and not os.path.exists(workdir)  # deleted afterwards


def test_sandbox_capabilities_report_what_is_enforced() -> None:
    caps = sandbox_capabilities()
    assert caps["supervised"] is True and caps["no_subprocess"] is True
    if IS_ROOT:  # the CI case: the child runs as an unprivileged uid
        assert isinstance(caps["uid"], int) and caps["uid"] > 0 and caps["nproc"] is True
        result = run_python("import os; print(os.getuid(), os.getgid(), os.getgroups())")
        uid = result.isolation["uid"]
        assert result.stdout.split()[:2] == [str(uid), str(uid)]
        assert result.isolation["uid"] != caps["uid"]  # a fresh uid per run


# ---------------------------------------------------------------------------------------------------- limits
def test_sub_second_timeout_kills_an_infinite_loop() -> None:
    start = time.monotonic()
    result = run_python("while True:\n    pass", timeout=0.2)
    elapsed = time.monotonic() - start
    assert result.timed_out and result.error == "timeout" and result.returncode is not None
    assert elapsed < 2.0, elapsed
    assert run_python("import time; time.sleep(0.05); print('done')", timeout=0.5).ok  # a quick program fits


def test_timeout_kills_a_sleeping_program_that_ignores_sigterm() -> None:
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)"
    start = time.monotonic()
    result = run_python(code, timeout=0.3)
    assert result.timed_out and time.monotonic() - start < 3.0


def test_output_is_capped_and_never_buffered_in_full() -> None:
    result = run_python("print('x' * 200_000)", max_output_bytes=1_000)
    assert result.output_truncated and result.error == "output_limit" and len(result.stdout) == 1_000
    assert run_python("print('x' * 900)", max_output_bytes=1_000).ok


def test_printing_100_mb_is_cut_off_quickly() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    start = time.monotonic()
    result = run_python("import sys\nsys.stdout.write('x' * 100_000_000)\nprint('never')", timeout=5.0)
    assert result.output_truncated and result.error == "output_limit"
    assert len(result.stdout) == 64_000 and "never" not in result.stdout
    assert time.monotonic() - start < 5.0
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert after - before < 50_000, (before, after)  # the parent never held the 100 MB
    result = run_python("while True:\n    print('spam' * 100)", timeout=5.0)
    assert result.output_truncated and not result.timed_out


def test_allocating_10_gb_fails_with_memory_error() -> None:
    start = time.monotonic()
    result = run_python("x = bytearray(10 * 1024 ** 3)", memory_mb=256)
    assert result.memory_exceeded and result.error == "memory" and "MemoryError" in result.stderr
    result = run_python("x = [0] * (10 ** 9)")
    assert result.memory_exceeded
    assert time.monotonic() - start < 5.0
    assert run_python("x = bytearray(50 * 1024 ** 2); print(len(x))", memory_mb=256).stdout == "52428800\n"


def test_file_size_is_limited() -> None:
    result = run_python("open('big', 'wb').write(b'x' * (20 * 1024 * 1024))", file_size_mb=1)
    assert result.returncode != 0 and "File too large" in result.stderr


# ---------------------------------------------------------------------------------------------------- hostile
def test_fork_bomb_through_os_fork_is_refused() -> None:
    result = run_python("import os\ntry:\n    os.fork()\nexcept PermissionError as e:\n    print('refused')")
    assert result.stdout == "refused\n"
    result = run_python("import subprocess\nsubprocess.run(['true'])")
    assert result.returncode != 0 and "PermissionError" in result.stderr
    start = time.monotonic()
    result = run_python(
        "import os\nwhile True:\n    try:\n        os.fork()\n    except Exception:\n        pass", timeout=1.0
    )
    assert result.timed_out and time.monotonic() - start < 5.0


def test_raw_fork_bomb_is_contained_and_cleaned_up() -> None:
    # ctypes bypasses the preamble: the kernel's limits (RLIMIT_NPROC, PID namespace, supervisor) must hold.
    bomb = (
        "import ctypes\nlibc = ctypes.CDLL(None)\n"
        "for _ in range(200):\n    if libc.fork() == 0:\n        libc.setsid()\n"
        "while True:\n    libc.fork()\n"
    )
    start = time.monotonic()
    result = run_python(bomb, timeout=1.0)
    assert result.timed_out and time.monotonic() - start < 8.0
    deadline = time.monotonic() + 2.0
    while _sandbox_processes(result) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _sandbox_processes(result) == []  # nothing survives, not even processes that called setsid
    _assert_sandbox_still_works()


def test_leftover_background_processes_are_killed_when_the_program_exits() -> None:
    code = (
        "import ctypes, time\nlibc = ctypes.CDLL(None)\n"
        "if libc.fork() == 0:\n    libc.setsid()\n    time.sleep(60)\n"
        "print('parent done')\n"
    )
    start = time.monotonic()
    result = run_python(code, timeout=5.0)
    assert result.stdout == "parent done\n" and not result.timed_out
    assert time.monotonic() - start < 4.0  # does not wait for the sleeping orphan
    time.sleep(0.1)
    assert _sandbox_processes(result) == []


def test_killing_the_parent_leaves_the_caller_unharmed() -> None:
    start = time.monotonic()
    result = run_python("import os\nos.kill(os.getppid(), 9)\nimport time\ntime.sleep(5)", timeout=0.5)
    assert isinstance(result, ExecutionResult) and time.monotonic() - start < 4.0  # we are still here, promptly
    result = run_python(f"import os\nos.kill({os.getpid()}, 9)")
    assert result.returncode != 0 and ("PermissionError" in result.stderr or "ProcessLookupError" in result.stderr)
    result = run_python(f"import os, signal\nos.killpg({os.getpgid(0)}, signal.SIGKILL)")
    assert result.returncode != 0
    if sandbox_capabilities()["uid"] is not None:  # only safe to try with an unprivileged uid
        result = run_python("import os\nos.kill(-1, 9)")
        assert isinstance(result, ExecutionResult)
    _assert_sandbox_still_works()


@pytest.mark.parametrize(("code", "status"), [("import sys; sys.exit()", 0), ("import sys; sys.exit(3)", 3)])
def test_sys_exit_ends_only_the_child(code: str, status: int) -> None:
    result = run_python(code)
    assert result.returncode == status
    assert (result.error is None) == (status == 0)


@pytest.mark.skipif(not IS_ROOT, reason="writes are refused by switching to an unprivileged uid (needs root)")
def test_writing_outside_the_working_directory_is_refused() -> None:
    tag = uuid.uuid4().hex
    targets = [ROOT / f"PWNED-{tag}", Path(f"/tmp/../etc/pwned-{tag}"), Path.home() / f"pwned-{tag}"]
    try:
        for target in targets:
            result = run_python(f"open({str(target)!r}, 'w').write('pwned')")
            assert result.returncode != 0 and "Error" in result.stderr, (target, result)
            assert not target.exists()
        result = run_python("open('inside.txt', 'w').write('fine'); print(open('inside.txt').read())")
        assert result.stdout == "fine\n"
        result = run_python(f"open('/tmp/pwned-{tag}', 'w').write('x')")
        if result.isolation.get("mnt"):  # /tmp is private to the run
            assert not Path(f"/tmp/pwned-{tag}").exists()
    finally:
        for target in [*targets, Path(f"/tmp/pwned-{tag}")]:
            target.unlink(missing_ok=True)


def test_network_is_unreachable_when_isolation_says_so() -> None:
    if not sandbox_capabilities()["net"]:
        pytest.skip("neither a network namespace nor the seccomp filter on this machine (network is not blocked)")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('connected')"
        result = run_python(code)
    assert "connected" not in result.stdout and ("OSError" in result.stderr or "PermissionError" in result.stderr)


# ---------------------------------------------------------------------------------------------------- concurrency
def test_pool_runs_in_parallel_and_keeps_order() -> None:
    codes = [f"import time\ntime.sleep(0.3)\nprint({i} * {i})" for i in range(16)]
    start = time.monotonic()
    with SandboxPool(max_workers=4) as pool:
        results = pool.map(codes, timeout=5.0)
        single = pool.run("print('one')")
    elapsed = time.monotonic() - start
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(16)]
    assert single.stdout == "one\n"
    assert elapsed < 16 * 0.3, elapsed  # sequentially it would take at least 4.8 s
    results = run_many(["print(1)", "while True: pass", "print(3)"], max_workers=3, timeout=0.5)
    assert [r.stdout for r in results] == ["1\n", "", "3\n"] and results[1].timed_out


def test_pool_rejects_bad_worker_count() -> None:
    with pytest.raises(ValueError):
        SandboxPool(0)


# ---------------------------------------------------------------------------------------------------- isolation
# Each claim of ``ExecutionResult.isolation`` is checked against what the code can actually do. The probe below
# tries everything an escaped program would; the configurations cover a machine with namespaces (CI), a container
# without them (``namespaces=False``), and each without the seccomp filter (the test hook), so that a claim that
# is False must also be visibly False (the attack works), not only a True claim visibly True.
_PROBE = r"""
import json, os, socket, sys
cfg = json.loads(sys.stdin.read())
seen = {}
def attempt(name, fn):
    try:
        fn()
        seen[name] = True
    except Exception as e:
        seen[name] = type(e).__name__
def tcp():
    socket.create_connection(("127.0.0.1", cfg["port"]), timeout=2).close()
def unix():
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(2)
    s.connect(cfg["unix"])
    s.close()
attempt("tcp", tcp)
attempt("unix", unix)
attempt("read_secret", lambda: open(cfg["secret"]).read())
attempt("environ", lambda: open("/proc/%d/environ" % cfg["trainer"], "rb").read())
attempt("signal", lambda: os.kill(cfg["trainer"], 0))
attempt("write_outside", lambda: open(cfg["outside"], "w").write("x"))
print(json.dumps(seen))
"""


def _probe(tmp_dir: Path, **kwargs: object) -> tuple[dict, dict]:
    """Run ``_PROBE`` against a TCP listener, a world-connectable UNIX socket and a 0600 file of this process."""
    tag = uuid.uuid4().hex[:8]
    secret = tmp_dir / f"secret-{tag}"
    secret.write_text("HF_TOKEN=hf_secret")
    secret.chmod(0o600)
    outside = ROOT / f".outside-{tag}"  # a directory only root may write to
    sock_path = str(tmp_dir / f"s-{tag}.sock")
    with socket.socket() as tcp, socket.socket(socket.AF_UNIX) as uds:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        uds.bind(sock_path)
        os.chmod(sock_path, 0o777)  # any uid may connect: only the sandbox can stop it
        uds.listen()
        cfg = {"port": tcp.getsockname()[1], "unix": sock_path, "secret": str(secret), "trainer": os.getpid()}
        cfg["outside"] = str(outside)
        try:
            result = run_python(_PROBE, stdin=json.dumps(cfg), timeout=10.0, **kwargs)
        finally:
            written = outside.exists()
            outside.unlink(missing_ok=True)
    assert result.ok, result
    assert not written or result.stdout.find('"write_outside": true') >= 0
    return result.isolation, json.loads(result.stdout)


@pytest.fixture
def shared_dir() -> Path:
    """A directory every uid can enter (pytest's tmp_path is under /tmp, which the mount namespace replaces)."""
    path = ROOT / f".sandbox-test-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o777)
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.mark.skipif(not IS_ROOT, reason="the isolated configurations need root (it switches to a fresh uid)")
@pytest.mark.parametrize("seccomp", [True, False], ids=["seccomp", "no-seccomp"])
@pytest.mark.parametrize("namespaces", [True, False], ids=["namespaces", "container-without-namespaces"])
def test_every_isolation_claim_holds_against_the_code(
    shared_dir: Path, monkeypatch: pytest.MonkeyPatch, namespaces: bool, seccomp: bool
) -> None:
    monkeypatch.setitem(sandbox._TEST_HOOKS, "seccomp", seccomp)
    isolation, seen = _probe(shared_dir, namespaces=namespaces)
    # Root can always switch to a fresh uid (pyenv under /root too: through descriptors), so this is isolated.
    assert (
        isolation["isolated"] is True and isinstance(isolation["uid"], int) and isolation["uid"] not in (0, os.getuid())
    )
    assert seen["read_secret"] is not True and seen["environ"] is not True and seen["signal"] is not True, seen
    assert seen["write_outside"] is not True
    assert isolation["no_sockets"] is seccomp
    assert isolation["net"] is (seen["tcp"] is not True), (isolation, seen)
    assert isolation["unix"] is (seen["unix"] is not True), (isolation, seen)
    if namespaces:
        assert isolation["mnt"] and isolation["netns"] and isolation["pid"] and isolation["disk_mb"]
        assert "disk_watched" not in isolation  # the tmpfs enforces it (tested below)
    else:
        assert not isolation["mnt"] and not isolation["netns"] and isolation["disk_watched"] is True
        assert isolation["net"] is seccomp and isolation["unix"] is seccomp  # only the filter closes them


def _requires_disk_quota() -> None:
    if not sandbox_capabilities().get("mnt"):
        pytest.skip("no mount namespace on this machine: the disk quota is not enforced")


def test_disk_quota_covers_the_working_directory_and_tmp_together() -> None:
    _requires_disk_quota()
    code = (
        "import errno, os\n"
        "chunk = b'x' * (256 * 1024)\n"
        "def fill(path, n):\n"
        "    with open(path, 'wb') as f:\n"
        "        for _ in range(n):\n"
        "            f.write(chunk)\n"
        "            f.flush()\n"
        "fill('/tmp/a', 6)\n"  # 1.5 MB in /tmp
        "try:\n"
        "    fill('work.bin', 6)\n"  # 1.5 MB more in the working directory: past the 2 MB quota
        "except OSError as e:\n"
        "    print('refused', errno.errorcode[e.errno])\n"
    )
    result = run_python(code, disk_mb=2, file_size_mb=16)
    assert result.isolation["disk_mb"] == 2
    assert result.stdout == "refused ENOSPC\n", result
    result = run_python(code.replace("6)\n", "2)\n"), disk_mb=2, file_size_mb=16)  # 1 MB in all: fits
    assert result.ok and result.stdout == "", result


def test_disk_quota_keeps_the_files_given_to_the_program() -> None:
    _requires_disk_quota()
    result = run_python(
        "print(open('d/x.txt').read(), len(open('y.bin','rb').read()))",
        files={"d/x.txt": "hi", "y.bin": b"0" * 5000},
        disk_mb=1,
    )
    assert result.stdout == "hi 5000\n", result


@pytest.mark.skipif(not IS_ROOT, reason="finds the daemon by the run's uid (needs root)")
def test_double_forked_daemon_cannot_outrun_the_supervisor(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without a PID namespace only the supervisor's child-subreaper role catches a daemon. Stall the supervisor
    # right after it forks the code (as a loaded machine can): the daemon is orphaned during the stall and must
    # still be caught, i.e. the supervisor must have become subreaper before forking.
    monkeypatch.setitem(sandbox._TEST_HOOKS, "supervisor_delay", 0.5)
    code = (
        "import ctypes, os, time\nlibc = ctypes.CDLL(None)\n"
        "pid = libc.fork()\n"
        "if pid == 0:\n"
        "    libc.setsid()\n"
        "    if libc.fork() == 0:\n"
        "        time.sleep(30)\n"
        "    os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print('parent done')\n"
    )
    result = run_python(code, namespaces=False, timeout=5.0)
    assert result.stdout == "parent done\n" and not result.isolation["pid"], result
    deadline = time.monotonic() + 2.0
    while _sandbox_processes(result) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = _sandbox_processes(result)
    for pid in survivors:  # do not leave it running if the test fails
        os.kill(pid, 9)
    assert survivors == []


# --------------------------------------------------------------------------------------- without isolation
def _python_for_nobody() -> str | None:
    """An interpreter the user ``nobody`` can run (the venv's may live under /root), or None."""
    for candidate in (sys.executable, shutil.which("python3"), "/usr/bin/python3"):
        if not candidate:
            continue
        try:
            check = [candidate, "-c", "import sys; assert sys.version_info >= (3, 10)"]
            if subprocess.run(check, preexec_fn=_become_nobody, capture_output=True, check=False).returncode == 0:
                return candidate
        except OSError:  # e.g. a venv whose interpreter is under /root
            continue
    return None


def _become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


NOBODY = 65534
_AS_NOBODY = r"""
import importlib.util, json, os, sys
spec = importlib.util.spec_from_file_location("sbx", sys.argv[1])
sbx = importlib.util.module_from_spec(spec)
sys.modules["sbx"] = sbx
spec.loader.exec_module(sbx)
out = {}
try:
    sbx.run_python("print('ran')")
    out["default"] = "ran"
except sbx.SandboxUnavailableError as e:
    out["default"] = str(e)
os.environ[sbx.ALLOW_UNISOLATED_ENV] = "1"
secret = os.path.join(sys.argv[2], "mine")
with open(secret, "w") as f:
    f.write("HF_TOKEN")
os.chmod(secret, 0o600)
probe = "import os; print(os.getuid()); print(open(%r).read()); os.kill(%d, 0); print('signalled')"
probe = probe % (secret, os.getpid())
r = sbx.run_python(probe)
out["opt_in"] = {"stdout": r.stdout, "stderr": r.stderr, "isolation": r.isolation}
r = sbx.run_python("import socket; socket.create_connection(('127.0.0.1', 9), timeout=1)")
out["net"] = {"stderr": r.stderr[-300:], "isolation": r.isolation}
print(json.dumps(out))
"""


@pytest.mark.skipif(not IS_ROOT, reason="becomes the user nobody to play a trainer that is not root")
def test_a_trainer_that_is_not_root_is_refused_unless_it_opts_in(shared_dir: Path) -> None:
    python = _python_for_nobody()
    if python is None:
        pytest.skip("no Python interpreter that the user nobody can run")
    proc = subprocess.run(
        [python, "-I", "-c", _AS_NOBODY, str(ROOT / "mrlm_hf" / "sandbox.py"), str(shared_dir)],
        preexec_fn=_become_nobody,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    # By default: a clear refusal that says why and how to get isolation or opt in.
    assert out["default"] != "ran"
    for words in (
        "refuses to run untrusted code without isolation",
        "uid 65534",
        "root",
        "CAP_SETUID",
        "MRLM_SANDBOX_ALLOW_UNISOLATED=1",
        "allow_unisolated=True",
    ):
        assert words in out["default"], out["default"]
    # Opted in: it runs as the trainer's own user, isolation says so, and indeed the trainer is exposed.
    opt_in = out["opt_in"]
    assert opt_in["isolation"]["isolated"] is False and opt_in["isolation"]["uid"] is None
    assert opt_in["stdout"] == f"{NOBODY}\nHF_TOKEN\nsignalled\n", opt_in
    # The seccomp filter still keeps it off the network where the machine supports it; the claim matches.
    net = out["net"]
    if net["isolation"]["no_sockets"]:
        assert "PermissionError: [Errno 13]" in net["stderr"], net
    assert net["isolation"]["net"] is ("Error" in net["stderr"]), net


@pytest.mark.skipif(not IS_ROOT, reason="the watched quota counts the sandbox uid's files (needs root)")
@pytest.mark.parametrize("then", ["sleep", "exit"])
def test_without_a_mount_namespace_the_disk_quota_is_watched_and_leftovers_removed(then: str) -> None:
    tag = uuid.uuid4().hex
    code = (
        "import os, time\n"
        f"os.mkdir('/tmp/{tag}')\n"
        "for i in range(3):\n"
        f"    open('/tmp/{tag}/%d' % i, 'wb').write(b'x' * 2**20)\n"
        "    open('w%d' % i, 'wb').write(b'x' * 2**20)\n"
        "print('wrote', flush=True)\n" + ("time.sleep(30)\n" if then == "sleep" else "")
    )
    result = run_python(code, namespaces=False, disk_mb=4, file_size_mb=2, timeout=20.0)
    assert result.isolation["disk_watched"] is True and result.isolation["disk_mb"] == 4
    assert result.error == "disk_limit" and result.disk_exceeded and not result.timed_out, result
    assert not Path(f"/tmp/{tag}").exists()  # nothing the code left in /tmp survives the run
    result = run_python(code.replace("range(3)", "range(1)"), namespaces=False, disk_mb=4, file_size_mb=2, timeout=0.5)
    assert not result.disk_exceeded and result.error in (None, "timeout"), result  # 2 MB fit


def test_environments_stop_on_the_refusal_instead_of_recording_failed_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where no uid can be had, grading or a python tool call must raise (the user has to act), not hand the agent
    # a tool error or a zero reward that would end up in the training data.
    from mrlm_hf.envs import make_env

    monkeypatch.setattr(sandbox, "_pick_uid", lambda: None)
    with pytest.raises(SandboxUnavailableError):
        run_python("print(1)", allow_unisolated=True)  # as root, opting in never means running as root
    code_env = make_env("code")
    code_env.reset(seed=0)
    with pytest.raises(SandboxUnavailableError):
        code_env.step(code_env.expert_action())
    tools_env = make_env("tools", difficulty=2, tasks=["python"])
    tools_env.reset(seed=0)
    with pytest.raises(SandboxUnavailableError):
        tools_env.step(json.dumps({"tool": "python", "arguments": {"code": "print(1)"}}))


@pytest.mark.skipif(not IS_ROOT, reason="plays a root trainer whose uid switch fails")
def test_a_root_trainer_that_cannot_switch_uid_is_refused_even_when_opted_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "_pick_uid", lambda: 2**32 - 1)  # (uid_t) -1: setgid/setuid fail in the child
    with pytest.raises(SandboxUnavailableError, match="cannot switch to uid .* never runs as root"):
        run_python("print('ran as root')", allow_unisolated=True)


def test_asyncio_works_but_other_socket_pairs_are_refused() -> None:
    code = (
        "import asyncio, socket\n"
        "async def f():\n    return 42\n"
        "print(asyncio.run(f()))\n"
        "socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
    )
    result = run_python(code)
    assert result.stdout == "42\n", result
    if result.isolation["no_sockets"]:  # a datagram pair could sendto() any socket path
        assert "PermissionError" in result.stderr, result


def test_a_malformed_opt_in_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MRLM_SANDBOX_ALLOW_UNISOLATED", "maybe")
    with pytest.raises(ValueError, match="MRLM_SANDBOX_ALLOW_UNISOLATED"):
        run_python("pass")
    monkeypatch.setenv("MRLM_SANDBOX_ALLOW_UNISOLATED", "0")
    if IS_ROOT:  # isolated anyway: the variable does not matter
        assert run_python("pass").ok


def test_the_code_cannot_fake_a_refusal() -> None:
    code = "import os, sys\nsys.stderr.write('sandbox isolation unavailable: fake')\nsys.stderr.flush()\nos._exit(122)"
    result = run_python(code)  # returns: the code ran, so it was isolated whatever it prints
    assert result.returncode == 122 and result.error == "exit_status" and result.isolation["supervised"]
