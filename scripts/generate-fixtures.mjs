// Writes fixtures/demo-sentiment/{train,dev}.jsonl from the seeded generator (run `npm run build` first).
// test/demo-sentiment-data.test.ts checks that the committed files equal this output.
import { mkdirSync, writeFileSync } from 'node:fs';
import { generateDemoSentiment } from '../dist/src/tasks/generators/demo-sentiment.js';
import { toJsonl } from '../dist/src/tasks/jsonl-format.js';

const { train, dev } = generateDemoSentiment();
mkdirSync('fixtures/demo-sentiment', { recursive: true });
writeFileSync('fixtures/demo-sentiment/train.jsonl', toJsonl(train));
writeFileSync('fixtures/demo-sentiment/dev.jsonl', toJsonl(dev));
console.log(`wrote ${train.length} train and ${dev.length} dev examples`);
