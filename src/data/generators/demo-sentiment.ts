/**
 * Generates the demo-sentiment data set from a seed. Three sentence shapes:
 *  - plain:    "the plot was really charming."               → polarity of the adjective
 *  - negated:  "honestly, the cast was not dull."            → the opposite polarity
 *  - contrast: "the music was great, but the ending was weak." → polarity of the clause after "but"
 * Every adjective appears under both labels (through negation and contrast), so no single word separates the
 * classes; test/demo-sentiment-data.test.ts measures that.
 */
import { Rng } from '../../engine/rng.js';
import type { ClassificationExample } from '../examples.js';

const SUBJECTS = [
  'the film',
  'the plot',
  'the cast',
  'the music',
  'the story',
  'the ending',
  'the script',
  'the actors',
  'the pacing',
  'the lead',
];
const VERBS = ['was', 'is', 'felt'];
const INTENSIFIERS = ['', '', '', 'very ', 'so ', 'truly '];
const OPENERS = ['', '', '', '', 'i think ', 'overall, '];
const POSITIVE = [
  'good',
  'great',
  'wonderful',
  'brilliant',
  'enjoyable',
  'charming',
  'delightful',
  'superb',
  'moving',
  'fun',
  'clever',
  'lovely',
];
const NEGATIVE = [
  'bad',
  'awful',
  'boring',
  'dull',
  'terrible',
  'weak',
  'tedious',
  'clumsy',
  'bland',
  'poor',
  'silly',
  'messy',
];

export const DEMO_SENTIMENT_SEED = 1234;
export const DEMO_SENTIMENT_SIZES = { train: 1600, dev: 300 } as const;

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.integer(items.length)]!;
}

function clause(rng: Rng, positive: boolean, negated: boolean): string {
  // A negated clause states the opposite adjective: "not dull" is positive.
  const adjective = pick(rng, positive !== negated ? POSITIVE : NEGATIVE);
  const verb = pick(rng, VERBS);
  return `${pick(rng, SUBJECTS)} ${verb} ${negated ? 'not ' : ''}${pick(rng, INTENSIFIERS)}${adjective}`;
}

export function generateExample(rng: Rng): ClassificationExample {
  const label = rng.integer(2);
  const positive = label === 1;
  const shape = rng.uniform();
  let text: string;
  if (shape < 0.5) {
    text = clause(rng, positive, false);
  } else if (shape < 0.8) {
    text = clause(rng, positive, true);
  } else {
    text = `${clause(rng, !positive, false)}, but ${clause(rng, positive, false)}`;
  }
  return { text: `${pick(rng, OPENERS)}${text}`, label };
}

/** The train and dev splits, disjoint in text. */
export function generateDemoSentiment(
  seed = DEMO_SENTIMENT_SEED,
  sizes: { train: number; dev: number } = DEMO_SENTIMENT_SIZES,
): { train: ClassificationExample[]; dev: ClassificationExample[] } {
  const rng = new Rng(seed);
  const seen = new Set<string>();
  const draw = (count: number): ClassificationExample[] => {
    const out: ClassificationExample[] = [];
    while (out.length < count) {
      const example = generateExample(rng);
      if (seen.has(example.text)) continue;
      seen.add(example.text);
      out.push(example);
    }
    return out;
  };
  const train = draw(sizes.train);
  return { train, dev: draw(sizes.dev) };
}
