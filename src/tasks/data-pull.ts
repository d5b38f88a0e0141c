/**
 * `mceval data pull TASK`: downloads a task's files that are published as plain files (GSM8K, HumanEval, MBPP) into
 * --data, verified against their known sha256, resumed if interrupted. GLUE and SuperGLUE ship as archives from
 * their own download scripts: for those the error says so. MCEVAL_DATA_ENDPOINT replaces
 * https://raw.githubusercontent.com (a mirror, or a local server in tests).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { downloadFile } from '../models/hub/download.js';
import { KNOWN_FILES } from './data-catalog.js';
import type { Task } from './types.js';

const GITHUB_RAW = 'https://raw.githubusercontent.com';

export async function pullTaskData(task: Task, dataDir: string): Promise<string[]> {
  const files = task.dataFiles ?? [];
  if (files.length === 0) throw new UserError(`Task ${task.name} ships with mceval: there is nothing to pull.`);
  const unavailable = files.filter((file) => KNOWN_FILES[file]?.url === undefined);
  if (unavailable.length > 0) {
    throw new UserError(
      `mceval cannot download ${unavailable.join(', ')} for ${task.name}: fetch them with the data set's own download ` +
        `script (GLUE: download_glue_data.py; SuperGLUE: its site) and point --data at that directory.`,
    );
  }
  const endpoint = process.env['MCEVAL_DATA_ENDPOINT'];
  const pulled: string[] = [];
  for (const file of files) {
    const target = join(dataDir, file);
    if (existsSync(target)) continue;
    const known = KNOWN_FILES[file]!;
    const url = endpoint === undefined ? known.url! : known.url!.replace(GITHUB_RAW, endpoint.replace(/\/$/, ''));
    mkdirSync(dirname(target), { recursive: true });
    try {
      await downloadFile(url, target, {}, known.sha256);
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError(
        `Could not download ${url} (${(error as Error).message}): check the network, or copy the file to ${target}.`,
      );
    }
    pulled.push(file);
  }
  return pulled;
}
