/**
 * The completion marker: how the code running a program inside the sandbox (the Python driver, the JavaScript
 * runner) tells the harness that the program ran to its end and with what verdict. The harness gives each execution
 * a fresh random token on stdin; the marker is a line `TOKEN HEX`, HEX being the UTF-8 bytes of
 * `result NUL exception-name` — so a message with newlines survives, and no program text can carry a valid marker.
 */
import { randomBytes } from 'node:crypto';

export interface ReportedVerdict {
  /** "passed", "timed out", "failed: …" or "killed: …", as the code inside wrote it. */
  readonly result: string;
  /** The exception's class name for a failure ("AssertionError"); empty otherwise. */
  readonly exception: string;
}

export function newToken(): string {
  return randomBytes(16).toString('hex');
}

export function markerLine(token: string, result: string, exception = ''): string {
  return `\n${token} ${Buffer.from(`${result}\0${exception}`, 'utf8').toString('hex')}\n`;
}

/** The last marker carrying this token, and the output without any marker lines. */
export function readMarker(stdout: string, token: string): { reported?: ReportedVerdict; output: string } {
  const pattern = new RegExp(`\\n${token} ([0-9a-f]*)\\n`, 'g');
  let reported: ReportedVerdict | undefined;
  for (const match of stdout.matchAll(pattern)) {
    const text = Buffer.from(match[1]!, 'hex').toString('utf8');
    const split = text.lastIndexOf('\0');
    reported =
      split < 0 ? { result: text, exception: '' } : { result: text.slice(0, split), exception: text.slice(split + 1) };
  }
  return reported === undefined ? { output: stdout } : { reported, output: stdout.replace(pattern, '') };
}
