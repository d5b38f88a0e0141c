/**
 * AI2 ARC JSONL (ARC-V1-Feb2018 layout): id, question.stem, question.choices[{text, label}], answerKey. Labels are
 * letters (A–E) or, for a few questions, digits (1–4); the gold index is the position of answerKey among the labels.
 * OpenBookQA's release uses the same layout. The hub's exports keep these fields with the choices as two parallel
 * lists.
 */
import { UserError } from '../../errors.js';
import { readJsonLines, type JsonLine } from '../jsonl.js';

export interface MultipleChoiceExample {
  readonly id: string;
  readonly question: string;
  readonly choices: readonly string[];
  readonly gold: number;
}

export function readArcJsonl(path: string, missingHint: string): MultipleChoiceExample[] {
  const expected = '{"id", "question": {"stem", "choices": [{"text", "label"}]}, "answerKey"}';
  return readJsonLines(path, expected, missingHint).map(({ value, where }) => {
    const question = value['question'] as { stem?: unknown; choices?: unknown } | undefined;
    const choices = question?.choices as { text?: unknown; label?: unknown }[] | undefined;
    if (
      typeof value['id'] !== 'string' ||
      typeof question?.stem !== 'string' ||
      !Array.isArray(choices) ||
      !choices.every((c) => typeof c.text === 'string' && typeof c.label === 'string')
    ) {
      throw new UserError(`Malformed row at ${where}: expected ${expected}.`);
    }
    const gold = choices.findIndex((choice) => choice.label === value['answerKey']);
    if (gold < 0)
      throw new UserError(`Malformed row at ${where}: answerKey ${String(value['answerKey'])} is not a choice label.`);
    return { id: value['id'], question: question.stem, choices: choices.map((c) => c.text as string), gold };
  });
}

/**
 * Rows of the hub's AI2 multiple-choice exports — allenai/ai2_arc (the stem in `question`) and allenai/openbookqa (in
 * `question_stem`): id, the stem, choices {text: [], label: []}, answerKey.
 */
export function hubChoiceQuestions(rows: readonly JsonLine[], stemField = 'question'): MultipleChoiceExample[] {
  return rows.map(({ value, where }) => {
    const choices = value['choices'] as { text?: unknown; label?: unknown } | undefined;
    if (
      typeof value[stemField] !== 'string' ||
      !Array.isArray(choices?.text) ||
      !Array.isArray(choices.label) ||
      choices.text.length !== choices.label.length
    ) {
      throw new UserError(
        `Malformed row at ${where}: expected {"id", "${stemField}", "choices": {"text": [], "label": []}, "answerKey"}.`,
      );
    }
    const gold = (choices.label as unknown[]).indexOf(value['answerKey']);
    if (gold < 0)
      throw new UserError(`Malformed row at ${where}: answerKey ${String(value['answerKey'])} is not a choice label.`);
    return {
      id: String(value['id']),
      question: value[stemField] as string,
      choices: (choices.text as unknown[]).map(String),
      gold,
    };
  });
}
