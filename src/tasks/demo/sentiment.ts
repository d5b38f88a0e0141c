/**
 * demo-sentiment: binary sentiment of short generated reviews, shipped under fixtures/demo-sentiment (made by
 * src/data/generators/demo-sentiment.ts from a fixed seed). Negation and "but" clauses mean no single word
 * decides the label.
 */
import { packagePath } from '../../paths.js';
import { readClassificationJsonl } from '../../data/jsonl.js';
import type { ClassificationTask } from '../types.js';

export const demoSentiment: ClassificationTask = {
  name: 'demo-sentiment',
  description: 'Binary sentiment of generated one-sentence reviews with negation and contrast (shipped, no download)',
  kind: 'classification',
  labels: ['negative', 'positive'],
  maxLength: 96,
  load() {
    const dir = packagePath('fixtures', 'demo-sentiment');
    return {
      train: readClassificationJsonl(`${dir}/train.jsonl`, 2),
      dev: readClassificationJsonl(`${dir}/dev.jsonl`, 2),
    };
  },
};
