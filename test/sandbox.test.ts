/**
 * The sandbox against hostile programs, in Python and (where it makes sense) JavaScript: each must get the right
 * verdict, leave the harness running, leave files outside its directory untouched, and leave no process behind —
 * checked in /proc, not assumed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectIsolation, type IsolationReport, type SandboxMode } from '../src/sandbox/isolation.js';
import {
  assertModeAvailable,
  runProgram,
  sandboxUid,
  type ExecutionResult,
  type ProgramLanguage,
} from '../src/sandbox/run-program.js';
import { liveProcessesOfUid } from '../src/sandbox/processes.js';
import { DEFAULT_LIMITS } from '../src/sandbox/limits.js';
import { formatVerdict, lastErrorLine, verdictOf } from '../src/sandbox/verdict.js';
import { runPrograms } from '../src/sandbox/pool.js';

const isolation: IsolationReport = await detectIsolation();
const limits = { ...DEFAULT_LIMITS, wallSeconds: 1.5, cpuSeconds: 5 };
const SECRET = 'mceval-secret-4ae1c';
process.env['MCEVAL_TEST_SECRET'] = SECRET;

let outside: string;
let server: Server;
let port = 0;
let connections = 0;

before(async () => {
  outside = mkdtempSync(join(tmpdir(), 'mceval-outside-'));
  writeFileSync(join(outside, 'keep.txt'), 'keep');
  server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

after(() => {
  server.close();
  rmSync(outside, { recursive: true, force: true });
});

interface EvilCase {
  readonly name: string;
  readonly language: ProgramLanguage;
  readonly source: () => string;
  /** The expected verdict: exact, or a pattern. */
  readonly verdict: string | RegExp;
  /** Only meaningful with strict isolation (no network, PID namespace). */
  readonly strictOnly?: boolean;
  /**
   * In process mode only a user id of its own keeps the program from the harness's files and processes (run as
   * the harness's user, kill(-1) would kill the test runner itself).
   */
  readonly needsOwnUid?: boolean;
}

const cases: EvilCase[] = [
  {
    name: 'fork bomb',
    language: 'python',
    source: () => 'import os\nwhile True:\n    os.fork()',
    // The process limit makes fork() fail; under load the wall clock can end it first.
    verdict: /^failed: BlockingIOError|^timed out$/,
  },
  {
    name: 'fork bomb',
    language: 'javascript',
    source: () => "const { fork } = require('child_process');\nwhile (true) fork(__filename);",
    verdict: /^failed: .*child_process/,
  },
  { name: 'infinite loop', language: 'python', source: () => 'while True:\n    pass', verdict: 'timed out' },
  { name: 'infinite loop', language: 'javascript', source: () => 'while (true) {}', verdict: 'timed out' },
  { name: 'sleep forever', language: 'python', source: () => 'import time\ntime.sleep(10**6)', verdict: 'timed out' },
  { name: 'sleep forever', language: 'javascript', source: () => 'setInterval(() => {}, 1000);', verdict: 'timed out' },
  {
    name: 'allocate 50 GB',
    language: 'python',
    source: () => 'x = bytearray(50 * 1024**3)',
    verdict: 'killed: memory',
  },
  {
    name: 'allocate 50 GB',
    language: 'javascript',
    source: () => 'const x = new ArrayBuffer(50 * 1024 ** 3); console.log(x.byteLength);',
    verdict: 'killed: memory',
  },
  {
    name: 'print without end',
    language: 'python',
    source: () => 'while True:\n    print("x" * 1000)',
    verdict: 'killed: output limit',
  },
  {
    name: 'print without end',
    language: 'javascript',
    source: () => "while (true) console.log('x'.repeat(1000));",
    verdict: 'killed: output limit',
  },
  {
    name: 'block on stdin',
    language: 'python',
    source: () => 'import sys\nprint(sys.stdin.read())\nassert False, "stdin ended"',
    verdict: 'failed: AssertionError: stdin ended',
  },
  {
    name: 'close stdout and stderr',
    language: 'python',
    source: () => 'import os\nos.close(1)\nos.close(2)\nraise SystemExit(3)',
    verdict: 'failed: SystemExit: 3',
  },
  {
    name: 'exit with status 0 before its end',
    language: 'python',
    source: () => 'import sys\nsys.exit(0)\nprint("unreachable")',
    verdict: 'failed: SystemExit: 0',
  },
  {
    name: 'end the process with status 0 before its end',
    language: 'python',
    source: () => 'import os\nos._exit(0)',
    verdict: "failed: exited before the program's end (exit code 0)",
  },
  {
    name: 'print a forged completion marker, then leave',
    language: 'python',
    source: () =>
      'import os, secrets\nfor _ in range(3):\n    print("\\n%s %s" % (secrets.token_hex(16), b"passed\\0".hex()), flush=True)\nos._exit(0)',
    verdict: "failed: exited before the program's end (exit code 0)",
  },
  {
    name: 'a forked copy reports a failure while the program passes',
    language: 'python',
    source: () => 'import os\nif os.fork() == 0:\n    raise ValueError("child")\nos.wait()',
    verdict: 'passed',
  },
  {
    name: 'exit with status 0 before its end',
    language: 'javascript',
    source: () => 'process.exit(0);\nconsole.log("unreachable");',
    // vm2's process has no exit; were it reachable, the missing marker would fail the program the same way.
    verdict: /^failed: (TypeError: process\.exit is not a function|exited before the program's end)/,
  },
  {
    name: 'a timer that throws after the script ran',
    language: 'javascript',
    source: () => "setTimeout(() => { throw new RangeError('late'); }, 50);",
    verdict: 'failed: RangeError: late',
  },
  {
    name: 'a timer that finishes after the script ran',
    language: 'javascript',
    source: () => "const assert = require('assert');\nsetTimeout(() => assert.equal(1 + 1, 2), 50);",
    verdict: 'passed',
  },
  {
    name: 'write a file outside its directory',
    language: 'python',
    source: () => `open(${JSON.stringify(join(outside, 'new.txt'))}, "w").write("x")`,
    verdict: /^failed: (PermissionError|OSError)/,
    needsOwnUid: true,
  },
  {
    name: 'delete a file outside its directory',
    language: 'python',
    source: () => `import os\nos.remove(${JSON.stringify(join(outside, 'keep.txt'))})`,
    verdict: /^failed: (PermissionError|OSError)/,
    needsOwnUid: true,
  },
  {
    // /tmp is world-writable: only the read-only view keeps it out of reach.
    name: 'write a file in /tmp',
    language: 'python',
    source: () => `open(${JSON.stringify(join(tmpdir(), `mceval-evil-${process.pid}`))}, "w").write("x")`,
    verdict: /^failed: OSError: \[Errno 30\] Read-only file system/,
    strictOnly: true,
  },
  {
    name: 'write files outside',
    language: 'javascript',
    source: () => `require('fs').writeFileSync(${JSON.stringify(join(outside, 'new.txt'))}, 'x');`,
    verdict: /^failed: .*fs/,
  },
  {
    name: 'connect to 127.0.0.1',
    language: 'python',
    source: () => `import socket\nsocket.create_connection(("127.0.0.1", ${port}), timeout=1)`,
    verdict: /^failed: OSError: \[Errno 101\] Network is unreachable/,
    strictOnly: true,
  },
  {
    name: 'connect to 127.0.0.1',
    language: 'javascript',
    source: () => `require('net').connect(${port}, '127.0.0.1');`,
    verdict: /^failed: .*net/,
  },
  {
    name: 'kill its parent',
    language: 'python',
    source: () =>
      'import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nos.kill(-1, signal.SIGKILL)\nimport time\ntime.sleep(5)',
    // The parent is the preamble. Strict: PID 1 of the namespace, which ignores the signal, after which kill(-1)
    // finds nothing else to kill (ESRCH). Process mode: the preamble runs as the program's user id and dies; the
    // harness, another user, is out of reach either way.
    verdict: /^failed: ProcessLookupError: \[Errno 3\] No such process$|^killed: SIGKILL$/,
    needsOwnUid: true,
  },
  {
    name: 'read an environment variable of the parent',
    language: 'python',
    source: () =>
      `import os\nprint(os.environ.get("MCEVAL_TEST_SECRET"))\ntry:\n    print(open("/proc/${process.pid}/environ").read())\nexcept OSError as error:\n    print(type(error).__name__)`,
    verdict: 'passed',
  },
  {
    name: 'read an environment variable of the parent',
    language: 'javascript',
    source: () => 'console.log(process.env.MCEVAL_TEST_SECRET);',
    verdict: 'passed',
  },
  {
    name: 'start a daemon that outlives it',
    language: 'python',
    source: () =>
      'import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n    os._exit(0)\nprint("started")',
    verdict: 'passed',
    needsOwnUid: true,
  },
];

async function settle(uid: number): Promise<void> {
  // Killed processes can take a moment to be reaped; anything still running after that is a leak.
  for (let i = 0; i < 20 && liveProcessesOfUid(uid).length > 0; i++) await new Promise((r) => setTimeout(r, 25));
}

function defineCases(mode: SandboxMode): void {
  const available = mode === 'process' || isolation.strict.available;
  describe(
    `--sandbox ${mode}`,
    { skip: available ? false : `strict isolation unavailable: ${isolation.strict.missing.join(', ')}` },
    () => {
      for (const evil of cases) {
        const skip =
          evil.strictOnly === true && mode !== 'strict'
            ? 'needs strict isolation'
            : evil.needsOwnUid === true && mode === 'process' && !isolation.uidSwitching
              ? 'process mode without a user id of its own (not root, or no setpriv)'
              : false;
        test(`${evil.language}: ${evil.name}`, { skip }, async () => {
          const result: ExecutionResult = await runProgram(
            { language: evil.language, source: evil.source() },
            { mode, isolation, limits, slot: 7 },
          );
          if (typeof evil.verdict === 'string') assert.equal(result.verdict, evil.verdict, result.stderr.slice(-500));
          else assert.match(result.verdict, evil.verdict, result.stderr.slice(-500));
          // The harness lives, its server was never reached, its files are as they were, its secret stayed its own.
          assert.equal(connections, 0);
          assert.deepEqual(readdirSync(outside), ['keep.txt']);
          assert.equal(readFileSync(join(outside, 'keep.txt'), 'utf8'), 'keep');
          assert.ok(!readdirSync(tmpdir()).includes(`mceval-evil-${process.pid}`));
          assert.ok(!result.stdout.includes(SECRET) && !result.stderr.includes(SECRET));
          if (isolation.uidSwitching) {
            const uid = sandboxUid(7); // the slot's current user id (it moves on only when zombies linger)
            await settle(uid);
            assert.deepEqual(liveProcessesOfUid(uid), [], 'a process outlived its execution');
          }
        });
      }
    },
  );
}

defineCases('strict');
defineCases('process');

test('the pool runs programs on several workers, in order, each on its own user id', async () => {
  const programs = Array.from({ length: 6 }, (_, i) => ({
    language: 'python' as const,
    source: `import os\nprint(${i}, os.getuid())`,
  }));
  const mode: SandboxMode = isolation.strict.available ? 'strict' : 'process';
  const seen: number[] = [];
  const results = await runPrograms(programs, { mode, isolation, workers: 3, onResult: (done) => seen.push(done) });
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
  results.forEach((result, i) => assert.equal(result.stdout.split(' ')[0], String(i)));
});

test('verdicts from how a program ended: only a reported pass followed by a clean exit passes', () => {
  const end = { exitCode: 0, signal: undefined, timedOut: false, outputLimitHit: false, stderr: '' };
  const reported = (result: string, exception = '') => ({ ...end, reported: { result, exception } });
  assert.equal(formatVerdict(verdictOf(reported('passed'))), 'passed');
  assert.equal(formatVerdict(verdictOf(end)), "failed: exited before the program's end (exit code 0)");
  assert.equal(
    formatVerdict(verdictOf({ ...reported('passed'), exitCode: 1 })),
    "failed: exited before the program's end (exit code 1)",
  );
  assert.deepEqual(verdictOf(reported('failed: ', 'AssertionError')), {
    status: 'failed',
    reason: '',
    exception: 'AssertionError',
  });
  assert.equal(formatVerdict(verdictOf(reported('failed: ', 'AssertionError'))), 'failed: ');
  assert.equal(formatVerdict(verdictOf(reported('timed out'))), 'timed out');
  assert.equal(formatVerdict(verdictOf(reported('killed: memory', 'MemoryError'))), 'killed: memory');
  assert.equal(
    formatVerdict(verdictOf(reported('failed: RangeError: Array buffer allocation failed'))),
    'killed: memory',
  );
  assert.equal(formatVerdict(verdictOf(reported('failed: [Errno 27] File too large'))), 'killed: file size');
  assert.equal(
    formatVerdict(verdictOf({ ...end, exitCode: 1, stderr: 'Traceback\n  x\nValueError: bad\n\n' })),
    "failed: exited before the program's end (exit code 1): ValueError: bad",
  );
  // A signal or a limit outranks any marker.
  assert.equal(
    formatVerdict(verdictOf({ ...reported('passed'), exitCode: undefined, signal: 'SIGXCPU' })),
    'killed: cpu time',
  );
  assert.equal(formatVerdict(verdictOf({ ...end, exitCode: undefined, signal: 'SIGXFSZ' })), 'killed: file size');
  assert.equal(formatVerdict(verdictOf({ ...end, exitCode: undefined, signal: 'SIGKILL' })), 'killed: SIGKILL');
  assert.equal(formatVerdict(verdictOf({ ...reported('passed'), timedOut: true, signal: 'SIGKILL' })), 'timed out');
  assert.equal(
    formatVerdict(verdictOf({ ...reported('passed'), outputLimitHit: true, timedOut: true })),
    'killed: output limit',
  );
  assert.equal(lastErrorLine(`${'e'.repeat(300)}\n`).length, 160);
  // Tracebacks of forked children interleaved: a trailing header or frame line is not the reason.
  const interleaved =
    'Traceback (most recent call last):\n  File "p.py", line 3, in <module>\n    os.fork()\n' +
    'BlockingIOError: [Errno 11] Resource temporarily unavailable\n  File "p.py", line 3, in <module>\n' +
    'Traceback (most recent call last):\n';
  assert.equal(lastErrorLine(interleaved), 'BlockingIOError: [Errno 11] Resource temporarily unavailable');
});

test('cpu and file-size limits kill with the limit named', async () => {
  const mode: SandboxMode = isolation.strict.available ? 'strict' : 'process';
  const cpu = await runProgram(
    { language: 'python', source: 'while True:\n    pass' },
    { mode, isolation, limits: { ...limits, cpuSeconds: 1, wallSeconds: 5 } },
  );
  assert.equal(cpu.verdict, 'killed: cpu time');
  const file = await runProgram(
    { language: 'python', source: 'open("big", "wb").write(b"x" * 10**8)' },
    { mode, isolation, limits },
  );
  assert.equal(file.verdict, 'killed: file size');
});

test('--sandbox strict refuses to run where it is unavailable, naming what is missing; process says what it lacks', () => {
  const without: IsolationReport = {
    ...isolation,
    python: '/usr/bin/python3',
    strict: { available: false, missing: ['util-linux unshare'] },
  };
  assert.throws(
    () => assertModeAvailable({ mode: 'strict', isolation: without }),
    /^UserError: --sandbox strict is not available here: it needs util-linux unshare\. Use --sandbox process \(process: resource limits and .*; no network or file-system isolation \(strict needs util-linux unshare\)\) if you accept that\.$/,
  );
  assert.doesNotThrow(() => assertModeAvailable({ mode: 'process', isolation: without }));
  assert.throws(
    () => assertModeAvailable({ mode: 'process', isolation: { ...without, python: undefined } }),
    /needs python3/,
  );
});
