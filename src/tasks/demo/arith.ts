/**
 * demo-arith: GSM8K-format word problems the project generates (src/data/generators/demo-arith.ts, shipped under
 * fixtures/demo-arith), scored exactly as GSM8K: greedy generation, strict-match and flexible-extract.
 */
import { packagePath } from '../../paths.js';
import { readGsm8kJsonl } from '../../data/loaders/gsm8k.js';
import { GSM8K_STOP_SEQUENCES } from '../gsm8k/scoring.js';
import { gsm8kDocs, gsm8kTrainingPairs, scoreGsm8kResponses } from '../gsm8k/data.js';
import type { GenerationTask } from '../types.js';

export const demoArith: GenerationTask = {
  name: 'demo-arith',
  description: 'Generated GSM8K-format word problems (400 train / 40 test, shipped); exact match, strict and flexible',
  kind: 'generation',
  maxLength: 160,
  maxNewTokens: 48,
  stopSequences: GSM8K_STOP_SEQUENCES,
  load() {
    const read = (split: string) =>
      readGsm8kJsonl(packagePath('fixtures', 'demo-arith', `${split}.jsonl`), 'Reinstall mceval or restore the file.');
    return { train: gsm8kTrainingPairs(read('train')), eval: gsm8kDocs(read('test')) };
  },
  score: async (docs, responses) => scoreGsm8kResponses(docs, responses),
};
