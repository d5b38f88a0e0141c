/**
 * What mceval knows about task data files: the sha256 of the canonical copy (openai's repositories at a pinned
 * commit; the files GLUE's download script writes; the WiC release; LLM-Adapters' dataset folder), where `data pull` fetches the ones published
 * as plain files, and the record counts each task's loader must find.
 */
export interface KnownFile {
  readonly sha256?: string;
  /** A plain-file download of the canonical copy (pinned commit). */
  readonly url?: string;
  readonly source: string;
}

const GITHUB_RAW = 'https://raw.githubusercontent.com';
const GSM8K = `${GITHUB_RAW}/openai/grade-school-math/3101c7d5072418e28b9008a6636bde82a006892c/grade_school_math/data`;
const HUMAN_EVAL = `${GITHUB_RAW}/openai/human-eval/6d43fb980f9fee3c892a914eda09951f772ad10d/data`;
const GLUE = "GLUE's download script (glue_data/)";
const WIC = 'WiC v1.0 release (pilehvar.github.io/wic)';
const AI2_ARC = 'AI2 ARC-V1-Feb2018 JSONL';
const LLM_ADAPTERS_COMMIT = '816657208af4db747803f87ba40a4c71383fed7a';
const LLM_ADAPTERS = `AGI-Edgerunners/LLM-Adapters @ ${LLM_ADAPTERS_COMMIT} (dataset/)`;
/** A file of LLM-Adapters' dataset/ folder at the pinned commit. */
const llmAdapters = (path: string) =>
  `${GITHUB_RAW}/AGI-Edgerunners/LLM-Adapters/${LLM_ADAPTERS_COMMIT}/dataset/${path}`;

export const KNOWN_FILES: Readonly<Record<string, KnownFile>> = {
  'arc/ARC-Easy-Test.jsonl': {
    sha256: 'ce32a0774b4beb1977d2c6b16dda5dd2b24fdc9c7f506882c452678676bd09be',
    source: AI2_ARC,
  },
  'arc/ARC-Challenge-Test.jsonl': {
    sha256: '9fa8ffb3e3a1f88cb302d53dd95aae81e39209ad9bcf974376b319d8fd35717c',
    source: AI2_ARC,
  },
  'arc/llm-adapters/ARC-Challenge/train.json': {
    sha256: 'a9debff28aafed86a08211dc3584a3b6cb38edca8c56bb34cd5002ed54aeebfb',
    url: llmAdapters('ARC-Challenge/train.json'),
    source: LLM_ADAPTERS,
  },
  'arc/llm-adapters/ARC-Challenge/test.json': {
    sha256: '4a89ce368ae01a71d268d9851686738b2a0a1d84271116bab49a1dd2b48ecad7',
    url: llmAdapters('ARC-Challenge/test.json'),
    source: LLM_ADAPTERS,
  },
  'arc/llm-adapters/ARC-Easy/train.json': {
    sha256: '6a06cece3dec32f4fb1c1b0fc29dab14be7cf3053b417290dbc6cd845359f5ff',
    url: llmAdapters('ARC-Easy/train.json'),
    source: LLM_ADAPTERS,
  },
  'arc/llm-adapters/ARC-Easy/test.json': {
    sha256: '3f32a84716ca6d57d38728bf80cc8117aecd17445c2cf29a68b571b810eb82dc',
    url: llmAdapters('ARC-Easy/test.json'),
    source: LLM_ADAPTERS,
  },
  'openbookqa/llm-adapters/train.json': {
    sha256: 'a1e094eeea01f70c0baa880f37497b26700ae99b243927b9c529984de9b1fe90',
    url: llmAdapters('openbookqa/train.json'),
    source: LLM_ADAPTERS,
  },
  'openbookqa/llm-adapters/test.json': {
    sha256: '8479930f7b8a26052c78250280b5465a4016ca7fc806af440d0f37e243f3099e',
    url: llmAdapters('openbookqa/test.json'),
    source: LLM_ADAPTERS,
  },
  'piqa/llm-adapters/test.json': {
    sha256: '3860d11b9b42e590b6b4bbc1643214d373ed0b0d4ac62fcc7bdceb8e044ad141',
    url: llmAdapters('piqa/test.json'),
    source: LLM_ADAPTERS,
  },
  'siqa/llm-adapters/test.json': {
    sha256: '71543f41127451945379d106ffedaef502f1c8770dff6d2f543aca85e3080b1d',
    url: llmAdapters('social_i_qa/test.json'),
    source: LLM_ADAPTERS,
  },
  'winogrande/llm-adapters/test.json': {
    sha256: '6946f5209e7114c65c6d04f8f644c5a061af20d730b1cfe158fff3dc44076fb9',
    url: llmAdapters('winogrande/test.json'),
    source: LLM_ADAPTERS,
  },
  'boolq/llm-adapters/train.json': {
    sha256: '5ccbaceebaddc69765e1c4a363632196b81851d303696672165ab59ec4e48c83',
    url: llmAdapters('boolq/train.json'),
    source: LLM_ADAPTERS,
  },
  'boolq/llm-adapters/test.json': {
    sha256: '89df2397cbca81dc31adcc6f7f5b635821aa0565aafde46725b2b4bd39b4dfa9',
    url: llmAdapters('boolq/test.json'),
    source: LLM_ADAPTERS,
  },
  'gsm8k/train.jsonl': {
    sha256: '17f347dc51477c50d4efb83959dbb7c56297aba886e5544ee2aaed3024813465',
    url: `${GSM8K}/train.jsonl`,
    source: 'openai/grade-school-math',
  },
  'gsm8k/test.jsonl': {
    sha256: '3730d312f6e3440559ace48831e51066acaca737f6eabec99bccb9e4b3c39d14',
    url: `${GSM8K}/test.jsonl`,
    source: 'openai/grade-school-math',
  },
  'humaneval/HumanEval.jsonl.gz': {
    sha256: 'b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef',
    url: `${HUMAN_EVAL}/HumanEval.jsonl.gz`,
    source: 'openai/human-eval',
  },
  'mbpp/mbpp.jsonl': {
    url: `${GITHUB_RAW}/google-research/google-research/master/mbpp/mbpp.jsonl`,
    source: 'google-research/mbpp',
  },
  'rte/train.tsv': { sha256: '41e3a9b063433392343fad9e962cf2f58b681c78d8f71592f4186f0837246c5c', source: GLUE },
  'rte/dev.tsv': { sha256: '80230dfa1347282e7b532b06a1004a76a710087541189bf874223ddf0e3819fb', source: GLUE },
  'mrpc/dev.tsv': { sha256: '9e8f284788040f7c9ecde2e1b3c07237c756f926bd9ef8548ef5d34b56f69f17', source: GLUE },
  'mrpc/msr_paraphrase_train.txt': {
    sha256: '60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89',
    source: GLUE,
  },
  'mrpc/dev_ids.tsv': { sha256: '971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7', source: GLUE },
  'cola/train.tsv': { sha256: 'cb368ebeb9f27d7ad03720d27ddc95687a311bdb100781a2fe59a5f5b1bc0624', source: GLUE },
  'cola/dev.tsv': { sha256: '8c013e21dc39957cac37378d87bebe225b694a0d5fe13eded66c2856628833fd', source: GLUE },
  'sst2/train.tsv': { sha256: '48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1', source: GLUE },
  'sst2/dev.tsv': { sha256: '54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0', source: GLUE },
  'wic/WiC_dataset/train/train.data.txt': {
    sha256: '3a56ff8285ca9703d6c91dfb7cc79760171899c560bb6a8698fa4559a71b160d',
    source: WIC,
  },
  'wic/WiC_dataset/train/train.gold.txt': {
    sha256: '3f614ca12c03a90fecc34471d8ae666f924a3c657b5620fcfb46d9b2b50bb7b2',
    source: WIC,
  },
  'wic/WiC_dataset/dev/dev.data.txt': {
    sha256: '1c360246ffa3904fc1d8f6f16bb7ae0d7980a1a27e9200e9b43c32fd35af11e7',
    source: WIC,
  },
  'wic/WiC_dataset/dev/dev.gold.txt': {
    sha256: '665ee959c2cf7db2a4255b7a049bdfa165b970482145cfd2ac456007d4dcf1d6',
    source: WIC,
  },
};

/** Canonical split sizes: [training examples, evaluation examples]. */
export const EXPECTED_COUNTS: Readonly<Record<string, readonly [number, number]>> = {
  rte: [2490, 277],
  mrpc: [3668, 408],
  cola: [8551, 1043],
  sst2: [67349, 872],
  qnli: [104743, 5463],
  qqp: [363846, 40430],
  'mnli-matched': [392702, 9815],
  'mnli-mismatched': [392702, 9832],
  boolq: [9427, 3270],
  wic: [5428, 638],
  'arc-easy': [2251, 2376],
  'arc-challenge': [1119, 1172],
  openbookqa: [4957, 500],
  'boolq-generation': [9427, 3270],
  'arc-easy-mc': [2251, 2376],
  'arc-challenge-mc': [1119, 1172],
  gsm8k: [7473, 1319],
  'gsm8k-5shot': [7473, 1319],
  'gsm8k-chat': [7473, 1319],
  'gsm8k-5shot-chat': [7473, 1319],
  'gsm8k-cot': [7473, 1319],
  'gsm8k-cot-llama': [7473, 1319],
  humaneval: [974, 164],
};
