/**
 * The commonsense sets in their original (or Hugging Face JSONL export) layouts, turned into zero-shot
 * multiple-choice documents exactly as lm-eval's task configs build them:
 *  - HellaSwag (rowanz): query = preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b)), endings
 *    preprocessed ("[title]" → ". ", other [tags] dropped, double spaces collapsed);
 *  - PIQA: "Question: {goal}\nAnswer:", choices sol1/sol2, gold from `label` (HF) or the separate labels file;
 *  - WinoGrande: partial scoring — each option completes the sentence up to "_", the rest of the sentence is the
 *    continuation; answer "1"/"2";
 *  - OpenBookQA: the question stem as context, choices' texts, answerKey;
 *  - Social IQa: "Q: {context} {question}\nA:", choices answerA–C, label 1–3 (in the row, as Hugging Face's export
 *    has it, or in the release's separate labels file).
 */
import { readFileSync } from 'node:fs';
import { UserError } from '../../errors.js';
import { readJsonLines, type JsonLine } from '../jsonl.js';
import { hubChoiceQuestions, readArcJsonl, type MultipleChoiceExample } from './arc.js';
import type { MultipleChoiceDoc } from '../examples.js';

/** Python's str.capitalize: first character upper-cased, the rest lower-cased. */
export function capitalize(text: string): string {
  return text.length === 0 ? text : text[0]!.toUpperCase() + text.slice(1).toLowerCase();
}

/** lm-eval's hellaswag preprocess. */
export function hellaswagPreprocess(text: string): string {
  return text
    .trim()
    .replaceAll(' [title]', '. ')
    .replace(/\[.*?\]/g, '')
    .replaceAll('  ', ' ');
}

function field(value: Record<string, unknown>, name: string, where: string): unknown {
  if (!(name in value)) throw new UserError(`Malformed row at ${where}: no "${name}".`);
  return value[name];
}

export function readHellaswag(path: string): MultipleChoiceDoc[] {
  return hellaswagDocs(
    readJsonLines(path, '{"ctx_a", "ctx_b", "activity_label", "endings": [4 strings], "label"}', ''),
  );
}

export function hellaswagDocs(rows: readonly JsonLine[]): MultipleChoiceDoc[] {
  return rows.map(({ value, where }, index) => {
    const endings = field(value, 'endings', where) as string[];
    const ctx = `${String(field(value, 'ctx_a', where))} ${capitalize(String(field(value, 'ctx_b', where)))}`;
    return {
      id: String(value['ind'] ?? index),
      context: hellaswagPreprocess(`${String(field(value, 'activity_label', where))}: ${ctx}`),
      choices: endings.map(hellaswagPreprocess),
      gold: Number(field(value, 'label', where)),
    };
  });
}

export function readPiqa(path: string, labelsPath?: string): MultipleChoiceDoc[] {
  return piqaDocs(readJsonLines(path, '{"goal", "sol1", "sol2"[, "label"]}', ''), readLabels(labelsPath));
}

function readLabels(path: string | undefined): string[] | undefined {
  return path === undefined ? undefined : readFileSync(path, 'utf8').trim().split(/\r?\n/);
}

/** PIQA rows, gold from the separate labels (the release) or each row's `label` (Hugging Face exports). */
export function piqaDocs(rows: readonly JsonLine[], labels?: readonly string[]): MultipleChoiceDoc[] {
  return rows.map(({ value, where }, index) => ({
    id: String(value['id'] ?? index),
    context: `Question: ${String(field(value, 'goal', where))}\nAnswer:`,
    choices: [String(field(value, 'sol1', where)), String(field(value, 'sol2', where))],
    gold: Number(labels === undefined ? field(value, 'label', where) : labels[index]),
  }));
}

export function readWinogrande(path: string): MultipleChoiceDoc[] {
  return winograndeDocs(readJsonLines(path, '{"sentence", "option1", "option2", "answer"}', ''));
}

export function winograndeDocs(rows: readonly JsonLine[]): MultipleChoiceDoc[] {
  return rows.map(({ value, where }, index) => {
    const sentence = String(field(value, 'sentence', where));
    const blank = sentence.indexOf('_');
    if (blank < 0) throw new UserError(`Malformed row at ${where}: the sentence has no "_" blank.`);
    const answer = String(field(value, 'answer', where));
    if (answer !== '1' && answer !== '2')
      throw new UserError(`Malformed row at ${where}: answer "${answer}" is not 1 or 2.`);
    return {
      id: String(value['qID'] ?? index),
      context: sentence.slice(0, blank),
      choices: [String(field(value, 'option1', where)), String(field(value, 'option2', where))].map(
        (option) => sentence.slice(0, blank) + option,
      ),
      continuation: sentence.slice(blank + 1).trim(),
      gold: Number(answer) - 1,
    };
  });
}

/** OpenBookQA (Main) in AI2's JSONL layout, as ARC's. */
export function readOpenbookqa(path: string): MultipleChoiceDoc[] {
  return readArcJsonl(path, '').map(openbookqaDoc);
}

/** OpenBookQA rows of the hub's allenai/openbookqa (the stem in question_stem). */
export function openbookqaHubDocs(rows: readonly JsonLine[]): MultipleChoiceDoc[] {
  return hubChoiceQuestions(rows, 'question_stem').map(openbookqaDoc);
}

/** lm-eval's openbookqa: the stem alone as context. */
function openbookqaDoc(question: MultipleChoiceExample): MultipleChoiceDoc {
  return { id: question.id, context: question.question, choices: question.choices, gold: question.gold };
}

export function readSocialIqa(path: string, labelsPath?: string): MultipleChoiceDoc[] {
  const expected = '{"context", "question", "answerA", "answerB", "answerC"[, "label"]}';
  return socialIqaDocs(readJsonLines(path, expected, ''), readLabels(labelsPath));
}

export function socialIqaDocs(rows: readonly JsonLine[], labels?: readonly string[]): MultipleChoiceDoc[] {
  return rows.map(({ value, where }, index) => {
    const label = Number(labels === undefined ? field(value, 'label', where) : labels[index]);
    if (![1, 2, 3].includes(label)) throw new UserError(`Malformed row at ${where}: label is not 1, 2 or 3.`);
    return {
      id: String(index),
      context: `Q: ${String(field(value, 'context', where))} ${String(field(value, 'question', where))}\nA:`,
      choices: ['answerA', 'answerB', 'answerC'].map((key) => String(field(value, key, where))),
      gold: label - 1,
    };
  });
}
