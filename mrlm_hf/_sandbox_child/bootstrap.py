"""The program the sandbox's child interpreter runs first: ``python -I -S -X utf8 <this file> <config JSON>``.

It reads the code, sets up namespaces, limits and the unprivileged uid, reports what it enforced on the "ready"
pipe, then executes the code (see ``mrlm_hf.sandbox`` and docs/sandbox.md). It is a script, not a module to
import: it runs at top level, imports nothing outside the standard library (the child has no site-packages) and
never imports ``mrlm_hf`` (so start-up stays fast). It lives in a folder of its own so that, where the script's
folder lands on ``sys.path`` (Python 3.10), no module of ``mrlm_hf`` (e.g. ``tokenize``) shadows the standard
library. The exit statuses come from the config (``setup_failed_exit``, ``refused_exit``), defined once in
``mrlm_hf.sandbox``.
"""

# It is kept as it was written for ``python -c`` (terse names, imports where they are needed): no style fixes here.
# ruff: noqa: E401, E402, E731, I001, UP031
import json, os, sys

if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]  # Python 3.10: -I does not yet keep the script's own directory off sys.path
cfg = json.loads(sys.argv[1])
sys.argv = ["main.py"]
_SETUP_FAILED, _REFUSED = cfg["setup_failed_exit"], cfg["refused_exit"]  # sandbox.SETUP_FAILED_EXIT, REFUSED_EXIT


def _fatal(msg, code=_SETUP_FAILED, prefix="sandbox setup failed: "):
    try:
        os.write(2, (prefix + msg + "\n").encode("utf-8", "replace"))
    finally:
        os._exit(code)


def _refuse(msg):
    # The code would not be isolated (see docs/sandbox.md): stop before it runs; the parent raises.
    _fatal(msg, _REFUSED, "sandbox isolation unavailable: ")


try:
    with open(cfg["program"], encoding="utf-8") as _f:
        _source = _f.read()
except Exception as _e:
    _fatal(repr(_e))
import traceback

try:
    import resource
except ImportError:
    resource = None

status = {
    "isolated": False,
    "uid": None,
    "net": False,
    "netns": False,
    "no_sockets": False,
    "unix": False,
    "pid": False,
    "mnt": False,
    "disk_mb": None,
    "nproc": False,
    "no_subprocess": False,
    "supervised": False,
}
_is_root = hasattr(os, "geteuid") and os.geteuid() == 0
_uid = cfg["uid"] if _is_root else None
_libc = None
if sys.platform.startswith("linux"):
    try:
        import ctypes

        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.unshare.argtypes = (ctypes.c_int,)
        _libc.mount.argtypes = (ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p)
        _libc.prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    except Exception:
        _libc = None


def _limit(name, soft, hard=None):
    if resource is None or not hasattr(resource, name):
        return False
    which = getattr(resource, name)
    try:
        cur_soft, cur_hard = resource.getrlimit(which)
        hard = soft if hard is None else hard
        if cur_hard != resource.RLIM_INFINITY:
            hard = min(hard, cur_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))
        return True
    except (ValueError, OSError):
        return False


def _unshare(flags):
    return _libc is not None and _libc.unshare(flags) == 0


def _mount(src, dst, fstype, flags, data):
    enc = lambda s: None if s is None else s.encode()
    if _libc.mount(enc(src), enc(dst), enc(fstype), flags, enc(data)) != 0:
        raise OSError(ctypes.get_errno(), "mount failed: " + dst)


def _blocker(path):
    # The first directory on the way to `path` that other users cannot enter (or `path` if they cannot read it).
    cur = "/"
    for part in [p for p in path.split("/") if p]:
        if not os.stat(cur).st_mode & 0o001:
            return cur
        cur = os.path.join(cur, part)
    return None if os.stat(cur).st_mode & 0o005 == 0o005 else cur


_MS_NOSUID, _MS_NODEV, _MS_NOEXEC, _MS_BIND, _MS_REC, _MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
_O_DIR = os.O_PATH | os.O_DIRECTORY if hasattr(os, "O_PATH") else 0


def _cover(target, data, keep):
    # Mount an empty tmpfs over `target`, binding the directories in `keep` (under `target`) back in place.
    fds = [(p, os.open(p, _O_DIR)) for p in keep]
    _mount("tmpfs", target, "tmpfs", _MS_NOSUID | _MS_NODEV, data)
    for p, fd in fds:
        os.makedirs(p, mode=0o755, exist_ok=True)
        _mount("/proc/self/fd/%d" % fd, p, None, _MS_BIND | _MS_REC, None)
        os.close(fd)


def _copy(src, dst):
    # Copy the files the parent put in the working directory onto the quota tmpfs, owned by the sandbox uid.
    for e in os.scandir(src):
        s, d = src + "/" + e.name, dst + "/" + e.name
        if e.is_dir(follow_symlinks=False):
            os.mkdir(d, 0o700)
            _copy(s, d)
        elif e.is_file(follow_symlinks=False):
            with open(s, "rb") as a, open(d, "wb") as b:
                for chunk in iter(lambda: a.read(1 << 20), b""):
                    b.write(chunk)
        else:
            continue
        os.chown(d, _uid, _uid)


def _unix_sockets():
    # Paths of the path-based UNIX sockets of this network namespace (None if unknown).
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
            rows = [line.rstrip("\n").split(None, 7) for line in f][1:]
    except OSError:
        return None
    return sorted({r[7] for r in rows if len(r) == 8 and r[7].startswith("/")})


def _seccomp():
    # A seccomp filter refusing (EACCES) socket(), socketpair() other than a connected AF_UNIX stream pair,
    # io_uring_setup() and pidfd_getfd(): no network and no UNIX sockets whatever the namespaces; any other ABI
    # (x32, i386) is refused outright. Needs no privileges (no_new_privs is set).
    arch = {"x86_64": (0xC000003E, 41, 53), "aarch64": (0xC00000B7, 198, 199)}.get(os.uname().machine)
    if arch is None or _libc is None:
        return False
    audit, sock, pair = arch
    LD, JEQ, JGE, AND, RET = 0x20, 0x15, 0x35, 0x54, 0x06
    prog = [
        (LD, 0, 0, 4),
        (JEQ, 0, "D", audit),
        (LD, 0, 0, 0),
        (JGE, "D", 0, 0x40000000),
        (JEQ, "D", 0, sock),
        (JEQ, "D", 0, 425),
        (JEQ, "D", 0, 438),
        (JEQ, 0, "A", pair),
        (LD, 0, 0, 16),
        (JEQ, 0, "D", 1),
        (LD, 0, 0, 24),
        (AND, 0, 0, 0xF),
        (JEQ, "A", "D", 1),
    ]
    labels = {"A": len(prog), "D": len(prog) + 1}
    prog += [(RET, 0, 0, 0x7FFF0000), (RET, 0, 0, 0x00050000 | 13)]
    rel = lambda i, j: labels[j] - i - 1 if isinstance(j, str) else j

    class _Filter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class _Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_Filter))]

    insns = (_Filter * len(prog))(*[_Filter(c, rel(i, t), rel(i, f), k) for i, (c, t, f, k) in enumerate(prog)])
    fprog = _Prog(len(prog), insns)
    return _libc.prctl(22, 2, ctypes.addressof(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER


_py_dirs = sorted({os.path.realpath(p) for p in sys.path if p and os.path.isdir(p)}, key=len)
_cwd = os.path.realpath(os.getcwd())
_under = lambda p, d: p == d or p.startswith(d.rstrip("/") + "/")
_ready = cfg["ready_fd"]
_user_tasks = None
_unix_closed = False
if not _is_root and os.path.isdir("/proc"):
    # Without root RLIMIT_NPROC counts all of this user's processes and threads: allow the current ones plus ours.
    _me, _user_tasks = os.getuid(), 0
    for _p in os.listdir("/proc"):
        try:
            if _p.isdigit() and os.stat("/proc/" + _p).st_uid == _me:
                _user_tasks += len(os.listdir("/proc/%s/task" % _p))
        except OSError:
            pass
if _uid is not None and cfg["namespaces"]:
    _sockets = _unix_sockets()  # read while we still see the host's network namespace
    status["mnt"] = _unshare(0x00020000)  # CLONE_NEWNS
    status["netns"] = _unshare(0x40000000)  # CLONE_NEWNET
    status["pid"] = _unshare(0x20000000)  # CLONE_NEWPID: applies to our next child
    if status["mnt"]:
        try:
            _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None)
            for _p in _py_dirs:
                _b = _blocker(_p)
                if _b is None or _b == "/" or _b == _p:
                    continue
                _cover(
                    _b,
                    "mode=755,size=1m",
                    [q for q in _py_dirs if _under(q, _b)] + ([_cwd] if _under(_cwd, _b) else []),
                )
        except Exception as _e:
            _fatal("mount namespace: " + repr(_e))
        try:
            # Disk quota: ONE size-limited tmpfs holds all the code can write: its working directory (the parent's
            # files are copied in) and private /tmp, /var/tmp and /dev/shm. Nothing reaches the host's disk.
            _base, _seed = os.path.dirname(_cwd), os.open(_cwd, _O_DIR)
            _opts = "mode=711,size=%dk,nr_inodes=%d" % (cfg["disk_kb"], cfg["disk_inodes"])
            _mount("tmpfs", _base, "tmpfs", _MS_NOSUID | _MS_NODEV, _opts)
            _parts = {}
            for _n, _mode in (("work", 0o700), ("tmp", 0o1777), ("var_tmp", 0o1777), ("shm", 0o1777)):
                os.mkdir(_base + "/" + _n)
                os.chmod(_base + "/" + _n, _mode)
                _parts[_n] = os.open(_base + "/" + _n, _O_DIR)
            _copy("/proc/self/fd/%d" % _seed, _base + "/work")
            os.chown(_base + "/work", _uid, _uid)
            os.close(_seed)
            for _d, _n in (("/tmp", "tmp"), ("/var/tmp", "var_tmp"), ("/dev/shm", "shm")):
                if os.path.isdir(_d) and not os.path.islink(_d):
                    _mount("/proc/self/fd/%d" % _parts[_n], _d, None, _MS_BIND, None)
            os.makedirs(_cwd, mode=0o755, exist_ok=True)  # when /tmp hid it
            _mount("/proc/self/fd/%d" % _parts["work"], _cwd, None, _MS_BIND, None)
            for _fd in _parts.values():
                os.close(_fd)
            status["disk_mb"] = cfg["disk_kb"] / 1024
        except Exception as _e:
            _fatal("disk quota: " + repr(_e))
        try:
            # Path-based UNIX sockets ignore network namespaces: hide /run and put /dev/null over every other
            # socket path the host's network namespace lists.
            for _d in ("/run", "/var/run"):
                if os.path.isdir(_d) and not os.path.islink(_d):
                    _cover(_d, "mode=755,size=64k", [q for q in _py_dirs + [_cwd] if _under(q, _d)])
            for _s in _sockets or ():
                try:
                    if (os.lstat(_s).st_mode & 0o170000) == 0o140000:
                        _mount("/dev/null", _s, None, _MS_BIND, None)
                except FileNotFoundError:
                    pass
            _unix_closed = _sockets is not None
        except OSError:
            _unix_closed = False
        os.chdir(_cwd)
elif not _is_root and cfg["namespaces"]:
    status["netns"] = _unshare(0x10000000 | 0x40000000)  # CLONE_NEWUSER | CLONE_NEWNET

# Without a mount namespace, interpreter directories under a directory other users cannot enter (pyenv under
# /root) are reached after the uid switch through descriptors opened now: only those directories, not their
# siblings, become reachable.
_path_fds, _new_path = {}, list(sys.path)
if _is_root:
    if _uid is None:
        _refuse("no unprivileged uid is available in this user namespace")
    for _p in _py_dirs:
        _b = _blocker(_p)
        if _b == _p:
            _refuse("the interpreter's directory %s is not readable by other users" % _p)
        if _b is not None:
            _path_fds[_p] = os.open(_p, _O_DIR)


def _remap(path):
    # `path` under a blocked interpreter directory, spelt through that directory's descriptor.
    real = os.path.realpath(path) if path else path
    for d, fd in _path_fds.items():
        if real and _under(real, d):
            return "/proc/self/fd/%d" % fd + real[len(d) :]
    return path


if _path_fds:
    # sys.path, and the __path__ of packages imported so far (encodings, for one, imports submodules lazily).
    _new_path = [_remap(p) for p in sys.path]
    _new_pkg_paths = [
        (m, [_remap(p) for p in m.__path__])
        for m in list(sys.modules.values())
        if isinstance(getattr(m, "__path__", None), list)
    ]


def _children():
    me, found = os.getpid(), []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/" + p + "/stat", "rb") as f:
                    data = f.read()
                if int(data[data.rindex(b")") + 2 :].split()[1]) == me:
                    found.append(int(p))
            except (OSError, ValueError, IndexError):
                pass
    return found


if _libc is not None and hasattr(os, "fork"):
    # Fork: the child runs the code, this process supervises it, so the code's parent is never the trainer. In a
    # PID namespace the kernel kills everything the code left behind when the child (the namespace's init)
    # exits; otherwise we are the child subreaper (set BEFORE forking, so not even a double fork at the code's
    # first instruction escapes): orphans of the code become our children, and once the code has exited we kill
    # and reap our children until none are left (setsid does not escape that).
    status["supervised"] = True
    _supervisor = os.getpid()
    if not status["pid"]:
        _libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER (not inherited by the child)
    _child = os.fork()
    if _child:
        if cfg["supervisor_delay"]:  # tests only: stall here as a loaded machine might
            import time

            time.sleep(cfg["supervisor_delay"])
        import signal

        def _on_term(*args):
            # The parent stops the run: kill the child (only while it is still our unreaped child).
            try:
                if os.waitid(os.P_PID, _child, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
                    os.kill(_child, 9)
            except OSError:
                pass

        signal.signal(signal.SIGTERM, _on_term)
        _libc.prctl(1, 15, 0, 0, 0)  # PR_SET_PDEATHSIG = SIGTERM: the trainer died, stop the run
        os.close(_ready)
        _limit("RLIMIT_CORE", 0)
        _, _st = os.waitpid(_child, 0)
        while not status["pid"]:
            for _p in _children():
                try:
                    os.kill(_p, 9)
                except OSError:
                    pass
            try:
                os.waitpid(-1, 0)
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
            except ChildProcessError:
                break
        if os.WIFSIGNALED(_st):
            _sig = os.WTERMSIG(_st)
            try:
                signal.signal(_sig, signal.SIG_DFL)
            except (OSError, ValueError, RuntimeError):
                pass
            os.kill(os.getpid(), _sig)
            os._exit(128 + _sig)
        os._exit(os.WEXITSTATUS(_st) if os.WIFEXITED(_st) else 1)
    if status["pid"] and status["mnt"]:
        try:
            _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
        except OSError:
            pass

_limit("RLIMIT_CORE", 0)
_limit("RLIMIT_FSIZE", cfg["file_bytes"])
if cfg["memory_bytes"]:
    _limit("RLIMIT_AS", cfg["memory_bytes"])
if _uid is not None:
    status["nproc"] = _limit("RLIMIT_NPROC", cfg["max_processes"])
elif _user_tasks is not None:
    status["nproc"] = _limit("RLIMIT_NPROC", _user_tasks + cfg["max_processes"])
if _libc is not None:
    _libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
if _uid is not None:
    try:
        os.setgroups([])
        os.setgid(_uid)
        os.setuid(_uid)
    except OSError as _e:
        _refuse("cannot switch to uid %d (%r); the sandbox needs CAP_SETUID and CAP_SETGID" % (_uid, _e))
    if os.getuid() == 0 or os.geteuid() == 0:
        _refuse("still root after the uid switch")
    status["uid"] = _uid
    status["isolated"] = True
    os.environ["HOME"] = _cwd
    if _path_fds:
        _libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self/fd is ours again after the uid switch
        sys.path[:] = _new_path
        for _m, _p in _new_pkg_paths:
            _m.__path__[:] = _p
        sys.path_importer_cache.clear()
if _libc is not None:
    _libc.prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG = SIGKILL: die with our parent
    if status["supervised"] and not status["pid"] and os.getppid() != _supervisor:
        os._exit(1)  # the supervisor died before the signal was armed
if cfg["seccomp"]:
    try:
        status["no_sockets"] = _seccomp()
    except Exception:
        status["no_sockets"] = False
status["net"] = status["netns"] or status["no_sockets"]
status["unix"] = status["no_sockets"] or _unix_closed

if cfg["block_subprocess"]:

    def _denied(*args, **kwargs):
        raise PermissionError("creating processes is not allowed in the sandbox")

    _mods = [os]
    try:
        import posix

        _mods.append(posix)
    except ImportError:
        pass
    for _m in _mods:
        for _n in (
            "fork",
            "forkpty",
            "system",
            "popen",
            "posix_spawn",
            "posix_spawnp",
            "execv",
            "execve",
            "execl",
            "execle",
            "execlp",
            "execlpe",
            "execvp",
            "execvpe",
            "spawnv",
            "spawnve",
            "spawnl",
            "spawnle",
            "spawnlp",
            "spawnlpe",
            "spawnvp",
            "spawnvpe",
        ):
            if hasattr(_m, _n):
                setattr(_m, _n, _denied)
    try:
        import _posixsubprocess

        _posixsubprocess.fork_exec = _denied
    except ImportError:
        pass
    status["no_subprocess"] = True

try:
    os.write(_ready, (json.dumps(status) + "\n").encode())
    os.close(_ready)
except OSError:
    os._exit(_SETUP_FAILED)
del cfg
import builtins

if not hasattr(builtins, "exit"):  # normally added by the site module, which -S skips
    builtins.exit = builtins.quit = sys.exit
_globals = {"__name__": "__main__", "__builtins__": __builtins__, "__file__": "main.py"}
try:
    import linecache

    linecache.cache["main.py"] = (len(_source), None, _source.splitlines(True), "main.py")  # tracebacks show code
    _code = compile(_source, "main.py", "exec")
    del _source
    exec(_code, _globals)
except SystemExit:
    raise
except BaseException as _e:
    traceback.print_exception(type(_e), _e, _e.__traceback__.tb_next if _e.__traceback__ else None)
    sys.exit(1)
