/** Where the reference fixtures live (../shared beside the checkout), and a visible skip when they are absent. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packagePath } from '../src/paths.js';

export const SHARED = packagePath('..', 'shared');

/** The path of a shared fixture, or a skip reason naming it (node:test prints it as "# SKIP …"). */
export function sharedPath(...parts: string[]): { path: string; skip: string | false } {
  const path = join(SHARED, ...parts);
  return { path, skip: existsSync(path) ? false : `reference fixture ${path} is absent` };
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** The recorded batch of a golden expected_outputs.json as a padded batch. */
export function goldenBatch(golden: { input_ids: number[][]; attention_mask: number[][] }) {
  return {
    batchSize: golden.input_ids.length,
    length: golden.input_ids[0]!.length,
    ids: Int32Array.from(golden.input_ids.flat()),
    mask: Int32Array.from(golden.attention_mask.flat()),
  };
}

/** Logits agree with the recording to 1e-4 wherever the mask marks a real token (padded positions are not compared). */
export function assertRealPositionLogits(actual: number[][][], expected: number[][][], mask: number[][]): number {
  let compared = 0;
  mask.forEach((row, b) =>
    row.forEach((real, t) => {
      if (real !== 1) return;
      actual[b]![t]!.forEach((v, k) => {
        if (Math.abs(v - expected[b]![t]![k]!) >= 1e-4)
          throw new Error(`logit ${b},${t},${k}: ${v} vs ${expected[b]![t]![k]}`);
      });
      compared += 1;
    }),
  );
  return compared;
}
