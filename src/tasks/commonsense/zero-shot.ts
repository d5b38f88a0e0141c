/**
 * Commonsense tasks scored zero-shot by log-likelihood, as lm-eval's hellaswag, piqa, social_iqa, winogrande and
 * openbookqa
 * configs do (acc, acc_norm), on their original files under --data, after fine-tuning on the task's LLM-Adapters
 * instruction file (the paper's setup). HellaSwag is run only when its file is given. The evaluation split may come
 * from the hub instead (the data set lm-eval loads, exported with its column names).
 */
import { requireDataFile } from '../../data/data-dir.js';
import { lazySplits } from '../../data/lazy-splits.js';
import { readLlmAdaptersJson } from '../../data/loaders/llm-adapters.js';
import { instructionPairs } from '../../data/llm-adapters-prompt.js';
import {
  hellaswagDocs,
  openbookqaHubDocs,
  piqaDocs,
  readHellaswag,
  readOpenbookqa,
  readPiqa,
  readSocialIqa,
  readWinogrande,
  socialIqaDocs,
  winograndeDocs,
} from '../../data/loaders/commonsense-originals.js';
import type { HubSplit } from '../../data/hub-export.js';
import type { JsonLine } from '../../data/jsonl.js';
import type { MultipleChoiceDoc, MultipleChoiceTask } from '../types.js';

function zeroShotTask(
  name: string,
  description: string,
  trainFile: string,
  evalFiles: readonly string[],
  read: (paths: string[]) => MultipleChoiceDoc[],
  hub: { readonly split: HubSplit; readonly docs: (rows: readonly JsonLine[]) => MultipleChoiceDoc[] },
): MultipleChoiceTask {
  const files = [trainFile, ...evalFiles];
  const train = (dataDir: string | undefined) =>
    instructionPairs(readLlmAdaptersJson(requireDataFile(name, dataDir, trainFile), ''));
  return {
    name,
    description,
    kind: 'multiple-choice',
    maxLength: 384,
    dataFiles: files,
    load(dataDir) {
      return lazySplits({
        train: () => train(dataDir),
        eval: () => read(evalFiles.map((file) => requireDataFile(name, dataDir, file))),
      });
    },
    hub: {
      splits: { eval: hub.split },
      load: (rows, dataDir) => ({ train: train(dataDir), eval: hub.docs(rows['eval']!) }),
    },
  };
}

export const hellaswagMultipleChoice = zeroShotTask(
  'hellaswag-mc',
  'HellaSwag (rowanz val JSONL, 10,042) zero-shot as lm-eval; acc, acc_norm',
  'hellaswag/llm-adapters/train.json',
  ['hellaswag/hellaswag_val.jsonl'],
  ([path]) => readHellaswag(path!),
  { split: { repo: 'Rowan/hellaswag', config: 'default', split: 'validation' }, docs: hellaswagDocs },
);
export const piqaMultipleChoice = zeroShotTask(
  'piqa-mc',
  'PIQA (valid.jsonl + valid-labels.lst, 1,838) zero-shot as lm-eval; acc, acc_norm',
  'piqa/llm-adapters/train.json',
  ['piqa/valid.jsonl', 'piqa/valid-labels.lst'],
  ([path, labels]) => readPiqa(path!, labels),
  { split: { repo: 'baber/piqa', config: 'default', split: 'validation' }, docs: (rows) => piqaDocs(rows) },
);
export const winograndeMultipleChoice = zeroShotTask(
  'winogrande-mc',
  'WinoGrande (dev.jsonl, 1,267) zero-shot with partial scoring as lm-eval; acc',
  'winogrande/llm-adapters/train.json',
  ['winogrande/dev.jsonl'],
  ([path]) => readWinogrande(path!),
  { split: { repo: 'allenai/winogrande', config: 'winogrande_xl', split: 'validation' }, docs: winograndeDocs },
);
export const openbookqaMultipleChoice = zeroShotTask(
  'openbookqa-mc',
  'OpenBookQA (Main test.jsonl, 500) zero-shot as lm-eval; acc, acc_norm',
  'openbookqa/llm-adapters/train.json',
  ['openbookqa/test.jsonl'],
  ([path]) => readOpenbookqa(path!),
  { split: { repo: 'allenai/openbookqa', config: 'main', split: 'test' }, docs: openbookqaHubDocs },
);
export const siqaMultipleChoice = zeroShotTask(
  'siqa-mc',
  'Social IQa (dev.jsonl + dev-labels.lst, 1,954) zero-shot as lm-eval; acc, acc_norm',
  'siqa/llm-adapters/train.json',
  ['siqa/dev.jsonl', 'siqa/dev-labels.lst'],
  ([path, labels]) => readSocialIqa(path!, labels),
  {
    split: { repo: 'allenai/social_i_qa', config: 'default', split: 'validation' },
    docs: (rows) => socialIqaDocs(rows),
  },
);
