/**
 * What isolation this machine allows, detected once per process and reported by `mceval doctor`:
 *  - strict: a new user, mount, network and PID namespace per execution (util-linux `unshare`), in which the
 *    preamble makes the file system read-only outside the program's directory; no network; every process of the
 *    execution dies with it;
 *  - uid switching (running as root, with util-linux `setpriv`): each worker slot runs programs as a user id of its
 *    own, so they cannot touch the harness's files or processes, and the process limit counts only their processes;
 *  - a Python interpreter every sandbox user may execute (MCEVAL_PYTHON overrides the search).
 * `--sandbox process` runs with the limits and uid switching only, and says what it lacks.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';

export type SandboxMode = 'strict' | 'process';

export interface IsolationReport {
  /** Whether strict mode works here, and if not, why. */
  readonly strict: { readonly available: boolean; readonly missing: readonly string[] };
  /** Whether each worker runs programs as its own user id. */
  readonly uidSwitching: boolean;
  readonly python: string | undefined;
  readonly unshare: string | undefined;
  readonly setpriv: string | undefined;
}

const SEARCH_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

function findExecutable(name: string, extra: readonly string[] = []): string | undefined {
  const path = (process.env['PATH'] ?? '').split(':').filter((dir) => dir !== '');
  for (const dir of [...extra, ...SEARCH_PATH, ...path]) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** True when any user may reach and execute `path` (every directory above it is world-searchable). */
export function worldExecutable(path: string): boolean {
  try {
    if ((statSync(path).mode & 0o001) === 0) return false;
    for (let dir = dirname(path); ; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return false;
      if (dir === '/') return true;
    }
  } catch {
    return false;
  }
}

function findPython(uidSwitching: boolean): string | undefined {
  const override = process.env['MCEVAL_PYTHON'];
  if (override !== undefined && override !== '') return override;
  // A root harness runs programs as other users: /root/.pyenv and the like are out of their reach.
  const candidates = ['/usr/bin/python3', '/usr/local/bin/python3', findExecutable('python3')];
  return candidates.find((candidate) => candidate !== undefined && (uidSwitching ? worldExecutable(candidate) : true));
}

let detected: Promise<IsolationReport> | undefined;

export function detectIsolation(): Promise<IsolationReport> {
  detected ??= probe();
  return detected;
}

export const UNSHARE_ARGS = [
  '--user',
  '--map-root-user',
  '--mount',
  '--net',
  '--pid',
  '--fork',
  '--kill-child',
  '--mount-proc',
] as const;

async function probe(): Promise<IsolationReport> {
  const unshare = findExecutable('unshare');
  const setpriv = findExecutable('setpriv');
  const uidSwitching = process.getuid?.() === 0 && setpriv !== undefined;
  const python = findPython(uidSwitching);
  const missing: string[] = [];
  if (process.platform !== 'linux') missing.push('Linux namespaces (this is ' + process.platform + ')');
  if (unshare === undefined) missing.push('util-linux unshare');
  if (python === undefined) missing.push('python3 (set MCEVAL_PYTHON)');
  if (missing.length === 0) {
    // The real thing, minus the program: new user, mount, network and PID namespaces.
    const result = await execa(unshare!, [...UNSHARE_ARGS, 'true'], { reject: false, timeout: 10_000 });
    if (result.exitCode !== 0) {
      missing.push(`unprivileged user namespaces (unshare said: ${result.stderr.split('\n')[0] || result.exitCode})`);
    }
  }
  return { strict: { available: missing.length === 0, missing }, uidSwitching, python, unshare, setpriv };
}

/** One line for doctor and for `--sandbox process`: what this machine's sandbox does and lacks. */
export function describeIsolation(report: IsolationReport, mode: SandboxMode): string {
  const uid = report.uidSwitching ? 'a user id per worker' : 'the harness user id (not root, or no setpriv)';
  if (mode === 'strict') return `strict: new user/mount/network/PID namespaces, read-only file system, limits, ${uid}`;
  const lacking = report.strict.available
    ? 'no network or file-system isolation (strict is available: --sandbox strict)'
    : `no network or file-system isolation (strict needs ${report.strict.missing.join(', ')})`;
  return `process: resource limits and ${uid}; ${lacking}`;
}
