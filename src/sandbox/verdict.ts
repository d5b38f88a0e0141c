/**
 * The verdict of one execution, from how it ended: `passed`, `failed: <short reason>`, `timed out`, or
 * `killed: <limit>`. A pure function of the facts the runner collected, so every mapping is tested directly.
 */
import { constants } from 'node:os';

export type ExecutionStatus = 'passed' | 'failed' | 'timed out' | 'killed';

export interface ExecutionEnd {
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  readonly outputLimitHit: boolean;
  readonly stderr: string;
}

export interface Verdict {
  readonly status: ExecutionStatus;
  /** The short reason of a failure or the limit that killed it; absent for passed and timed out. */
  readonly reason?: string;
}

/** Exit code the Python preamble uses when the program ran out of its address space (MemoryError). */
export const MEMORY_EXIT_CODE = 86;
/**
 * The preamble exits with this plus the signal number when a signal killed the program (a program that exits with
 * such a code itself is reported as killed by that signal: never a false pass).
 */
export const SIGNAL_EXIT_BASE = 200;
/** Exit code of the preamble when it could not set the sandbox up (an infrastructure error, not a verdict). */
export const SETUP_FAILED_EXIT_CODE = 97;

const LIMIT_SIGNALS: Readonly<Record<string, string>> = {
  SIGXCPU: 'cpu time',
  SIGXFSZ: 'file size',
};

const MAX_REASON = 160;

/** How V8 and Node say an allocation hit the address-space limit. */
const OUT_OF_MEMORY = /heap out of memory|Array buffer allocation failed|Cannot allocate memory/i;

/** A Python exception line: the exception's (dotted) name, then optionally ": message". */
const EXCEPTION_LINE = /^[A-Za-z_][\w.]*(: .*)?$/;

/**
 * The last non-empty line of stderr: for Python, the exception line of the traceback. Forked children writing
 * tracebacks at once can interleave them, so after a traceback the last exception-shaped line is taken.
 */
export function lastErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const traceback = lines.includes('Traceback (most recent call last):');
  const last = (traceback ? lines.filter((line) => EXCEPTION_LINE.test(line)).at(-1) : undefined) ?? lines.at(-1) ?? '';
  return last.length > MAX_REASON ? `${last.slice(0, MAX_REASON - 1)}…` : last;
}

/** The signal a preamble exit code stands for, if any (201 → SIGHUP … 231 → SIGSYS). */
export function signalOfExitCode(exitCode: number | undefined): string | undefined {
  if (exitCode === undefined || exitCode <= SIGNAL_EXIT_BASE || exitCode > SIGNAL_EXIT_BASE + 64) return undefined;
  const number = exitCode - SIGNAL_EXIT_BASE;
  const entry = Object.entries(constants.signals).find(([, value]) => value === number);
  return entry?.[0] ?? `signal ${number}`;
}

export function verdictOf(end: ExecutionEnd): Verdict {
  if (end.outputLimitHit) return { status: 'killed', reason: 'output limit' };
  if (end.timedOut) return { status: 'timed out' };
  if (end.signal !== undefined) {
    const limit = LIMIT_SIGNALS[end.signal];
    if (limit !== undefined) return { status: 'killed', reason: limit };
    if (end.signal === 'SIGABRT' && /heap out of memory/i.test(end.stderr))
      return { status: 'killed', reason: 'memory' };
    return { status: 'killed', reason: end.signal };
  }
  if (end.exitCode === 0) return { status: 'passed' };
  if (end.exitCode === MEMORY_EXIT_CODE) return { status: 'killed', reason: 'memory' };
  const line = lastErrorLine(end.stderr);
  if (OUT_OF_MEMORY.test(line)) return { status: 'killed', reason: 'memory' };
  // Python ignores SIGXFSZ, so the file-size limit surfaces as EFBIG.
  if (/\[Errno 27\] File too large/.test(line)) return { status: 'killed', reason: 'file size' };
  return { status: 'failed', reason: line === '' ? `exit code ${end.exitCode}` : line };
}

export function formatVerdict(verdict: Verdict): string {
  return verdict.reason === undefined ? verdict.status : `${verdict.status}: ${verdict.reason}`;
}
