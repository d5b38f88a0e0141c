/**
 * What the GSM8K tasks and the GSM8K-format demo task share: where the data comes from (gsm8k/*.jsonl or the hub's
 * openai/gsm8k), fine-tuning pairs (the train split as question → answer, in the zero-shot prompt layout) and
 * scoring of responses with both lm-eval filters.
 */
import { requireDataFile } from '../../data/data-dir.js';
import { lazySplits } from '../../data/lazy-splits.js';
import type { HubSource } from '../../data/hub-export.js';
import { gsm8kExamples, readGsm8kJsonl, type Gsm8kExample } from '../../data/loaders/gsm8k.js';
import type { GenerationDoc, GenerationScores, GenerationSplits, PromptTarget } from '../types.js';
import { GSM8K_FILTERS, gsm8kQuestion, scoreGsm8k, type Gsm8kFilters } from './scoring.js';

export function gsm8kTrainingPairs(train: readonly Gsm8kExample[]): PromptTarget[] {
  return train.map((example) => ({ prompt: gsm8kQuestion(example), target: ` ${example.answer}` }));
}

export function gsm8kDocs(examples: readonly Gsm8kExample[]): GenerationDoc[] {
  return examples.map((example, index) => ({
    id: String(index),
    prompt: gsm8kQuestion(example),
    reference: ` ${example.answer}`,
  }));
}

/**
 * Mean exact match under each filter; strict-match is the primary metric (lm-eval lists it first). Each response is
 * compared with its doc's `answer` where the task sets one (the CoT variants' final number), else the reference.
 */
export function scoreGsm8kResponses(
  docs: readonly GenerationDoc[],
  responses: readonly string[],
  filters: Gsm8kFilters = GSM8K_FILTERS,
): GenerationScores {
  let strict = 0;
  let flexible = 0;
  const samples = docs.map((doc, i) => {
    const score = scoreGsm8k(responses[i]!, doc.answer ?? doc.reference, filters);
    strict += score.exactMatch['strict-match'];
    flexible += score.exactMatch['flexible-extract'];
    return { filtered: score.filtered, exact_match: score.exactMatch };
  });
  const n = Math.max(1, docs.length);
  return {
    primary: strict / n,
    metrics: { 'exact_match,strict-match': strict / n, 'exact_match,flexible-extract': flexible / n },
    samples,
  };
}

const GSM8K_FILES = ['gsm8k/train.jsonl', 'gsm8k/test.jsonl'];
const hubSplit = (split: string) => ({ repo: 'openai/gsm8k', config: 'main', split });

/** How a GSM8K task makes its splits: the evaluation docs from the test examples (n-shot prompts also from train). */
export interface Gsm8kSplitBuilders {
  readonly train: (train: readonly Gsm8kExample[]) => PromptTarget[];
  readonly eval: (test: readonly Gsm8kExample[], train: () => readonly Gsm8kExample[]) => GenerationDoc[];
}

/** A GSM8K task's data from either source; from the files, each split is read when first used. */
export function gsm8kData(
  task: string,
  build: Gsm8kSplitBuilders,
): {
  dataFiles: readonly string[];
  load(dataDir: string | undefined): GenerationSplits;
  hub: HubSource<GenerationSplits>;
} {
  return {
    dataFiles: GSM8K_FILES,
    load(dataDir) {
      const read = (file: string) => readGsm8kJsonl(requireDataFile(task, dataDir, file), '');
      let trainExamples: readonly Gsm8kExample[] | undefined;
      const train = () => (trainExamples ??= read(GSM8K_FILES[0]!));
      return lazySplits({ train: () => build.train(train()), eval: () => build.eval(read(GSM8K_FILES[1]!), train) });
    },
    hub: {
      splits: { train: hubSplit('train'), eval: hubSplit('test') },
      load: (rows) => {
        const train = gsm8kExamples(rows['train']!);
        return { train: build.train(train), eval: build.eval(gsm8kExamples(rows['eval']!), () => train) };
      },
    },
  };
}
