/**
 * The processes of one user id, read from /proc: how the sandbox checks — rather than assumes — that nothing an
 * execution started is still running, and kills what is (as root, a whole uid at once).
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  readonly pid: number;
  /** The state letter from /proc/PID/status (Z for a zombie awaiting its reaper). */
  readonly state: string;
  readonly command: string;
}

export function processesOfUid(uid: number): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let status: string;
    try {
      status = readFileSync(`/proc/${entry}/status`, 'utf8');
    } catch {
      continue; // it ended while we looked
    }
    const realUid = /^Uid:\s+(\d+)/m.exec(status)?.[1];
    if (realUid === undefined || Number(realUid) !== uid) continue;
    found.push({
      pid: Number(entry),
      state: /^State:\s+(\S)/m.exec(status)?.[1] ?? '?',
      command: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '?',
    });
  }
  return found;
}

/** Running (non-zombie) processes of the uid. */
export function liveProcessesOfUid(uid: number): ProcessInfo[] {
  return processesOfUid(uid).filter((process) => process.state !== 'Z' && process.state !== 'X');
}

/** SIGKILLs every process of the uid (root only); returns how many it found. */
export function killProcessesOfUid(uid: number): number {
  const victims = liveProcessesOfUid(uid);
  for (const victim of victims) {
    try {
      process.kill(victim.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return victims.length;
}
