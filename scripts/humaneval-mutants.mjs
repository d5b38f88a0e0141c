// Writes test/humaneval-mutants.ts's samples for a HumanEval problem file as JSON Lines (run `npm run build` first):
//   node scripts/humaneval-mutants.mjs ../shared/data/humaneval/HumanEval.jsonl.gz > mutants.jsonl
import { readHumanEvalProblems } from '../dist/src/data/loaders/humaneval.js';
import { humanEvalMutants } from '../dist/test/humaneval-mutants.js';

const [problems] = process.argv.slice(2);
if (problems === undefined) {
  console.error('usage: node scripts/humaneval-mutants.mjs HumanEval.jsonl.gz > samples.jsonl');
  process.exit(2);
}
for (const sample of humanEvalMutants(readHumanEvalProblems(problems)))
  process.stdout.write(`${JSON.stringify(sample)}\n`);
