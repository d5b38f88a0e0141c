// Writes fixtures/demo-sentiment/{train,dev}.jsonl and fixtures/demo-arith/{train,test}.jsonl from the seeded
// generators (run `npm run build` first). Tests check that the committed files equal this output.
import { mkdirSync, writeFileSync } from 'node:fs';
import { generateDemoSentiment } from '../dist/src/data/generators/demo-sentiment.js';
import { jsonLines, toJsonl } from '../dist/src/data/jsonl-format.js';
import { generateDemoArith } from '../dist/src/data/generators/demo-arith.js';

const { train, dev } = generateDemoSentiment();
mkdirSync('fixtures/demo-sentiment', { recursive: true });
writeFileSync('fixtures/demo-sentiment/train.jsonl', toJsonl(train));
writeFileSync('fixtures/demo-sentiment/dev.jsonl', toJsonl(dev));
console.log(`wrote ${train.length} train and ${dev.length} dev examples`);

const arith = generateDemoArith();
mkdirSync('fixtures/demo-arith', { recursive: true });
writeFileSync('fixtures/demo-arith/train.jsonl', jsonLines(arith.train));
writeFileSync('fixtures/demo-arith/test.jsonl', jsonLines(arith.test));
console.log(`wrote ${arith.train.length} train and ${arith.test.length} test problems`);
