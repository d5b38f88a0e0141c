/**
 * HumanEval through the sandbox, against openai/human-eval's own data (../shared/data/humaneval): every canonical
 * solution passes; human-eval's example samples give its documented result (pass@1 = 0.5: three passed, one timed
 * out, two failed); the CLI mirrors evaluate_functional_correctness.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packagePath } from '../src/paths.js';
import { detectIsolation } from '../src/sandbox/isolation.js';
import { checkProgram, readHumanEvalProblems, readHumanEvalSamples } from '../src/data/loaders/humaneval.js';
import { evaluateFunctionalCorrectness } from '../src/evaluation/functional-correctness.js';
import { sharedPath } from './shared-fixtures.js';

const data = sharedPath('data', 'humaneval');
const isolation = await detectIsolation();
const mode = isolation.strict.available ? ('strict' as const) : ('process' as const);

test('all 164 canonical solutions pass in the sandbox (pass@1 = 1.0)', { skip: data.skip }, async () => {
  const problems = readHumanEvalProblems(join(data.path, 'HumanEval.jsonl.gz'));
  assert.equal(problems.length, 164);
  const samples = problems.map((problem) => ({ task_id: problem.task_id, completion: problem.canonical_solution }));
  const evaluation = await evaluateFunctionalCorrectness(problems, samples, { mode, isolation, ks: [1] });
  const failures = evaluation.results.filter((result) => !result.passed).map((r) => `${r.task_id}: ${r.result}`);
  assert.deepEqual(failures, []);
  assert.deepEqual(evaluation.passAtK, { 'pass@1': 1 });
});

test(
  "human-eval's example samples: pass@1 = 0.5 — three passed, one timed out, two failed",
  { skip: data.skip },
  async () => {
    const problems = readHumanEvalProblems(join(data.path, 'example_problem.jsonl'));
    const samples = readHumanEvalSamples(join(data.path, 'example_samples.jsonl'));
    const evaluation = await evaluateFunctionalCorrectness(problems, samples, { mode, isolation, ks: [1, 10] });
    // Bit for bit what human-eval's numpy estimator gives (1 − ¾·⅘·⅚ in float64); k = 10 > 6 samples is not
    // reported, as human-eval does not.
    assert.deepEqual(evaluation.passAtK, { 'pass@1': 0.4999999999999999 });
    assert.deepEqual(
      evaluation.results.map((result) => result.status),
      ['failed', 'timed out', 'failed', 'passed', 'passed', 'passed'],
    );
  },
);

test('a wrong answer, a timeout and a crash are each failures with their status', { skip: data.skip }, async () => {
  const [problem] = readHumanEvalProblems(join(data.path, 'example_problem.jsonl'));
  const samples = ['    return 2', '    while True:\n        pass', '    return 1 / 0'].map((completion) => ({
    task_id: problem!.task_id,
    completion,
  }));
  const evaluation = await evaluateFunctionalCorrectness([problem!], samples, { mode, isolation, ks: [1] });
  // human-eval's result strings (`failed: {exception}`, empty for a bare assert); the class name beside them.
  assert.deepEqual(
    evaluation.results.map((result) => [result.result, result.exception]),
    [
      ['failed: ', 'AssertionError'],
      ['timed out', undefined],
      ['failed: division by zero', 'ZeroDivisionError'],
    ],
  );
  assert.equal(evaluation.passAtK['pass@1'], 0);
  assert.equal(
    checkProgram(problem!, '    return 1'),
    'def return1():\n    return 1\ndef check(candidate):\n    assert candidate() == 1\ncheck(return1)',
  );
});

test('the CLI writes SAMPLES_results.jsonl and prints pass@k; bad input gets one line', { skip: data.skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'mceval-humaneval-'));
  try {
    const samples = join(dir, 'samples.jsonl');
    copyFileSync(join(data.path, 'example_samples.jsonl'), samples);
    const run = (args: string[]) =>
      spawnSync(process.execPath, [packagePath('bin', 'run.js'), 'evaluate-functional-correctness', ...args], {
        encoding: 'utf8',
      });
    const ok = run([samples, '--problems', join(data.path, 'example_problem.jsonl'), '--k', '1', '--json']);
    assert.equal(ok.status, 0, ok.stderr);
    const report = JSON.parse(ok.stdout);
    assert.deepEqual(report.passAtK, { 'pass@1': 0.4999999999999999 });
    assert.deepEqual(report.statuses, { failed: 2, 'timed out': 1, passed: 3 });
    const lines = readFileSync(`${samples}_results.jsonl`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(Object.keys(lines[0]), ['task_id', 'completion', 'result', 'status', 'passed', 'exception']);
    const missing = run([join(dir, 'nope.jsonl'), '--problems', join(data.path, 'example_problem.jsonl')]);
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /^Error: Data file not found: .*nope\.jsonl\. Pass the path of a samples file\.\n$/);
    assert.ok(!existsSync(join(dir, 'nope.jsonl_results.jsonl')));
    const incomplete = run([samples, '--problems', join(data.path, 'HumanEval.jsonl.gz')]);
    assert.notEqual(incomplete.status, 0);
    assert.match(incomplete.stderr, /Sample for unknown task_id "test\/0"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
