/** `--output FILE` or stdout: a report written whole (or not at all), or printed. */
import { writeFileAtomic } from '../atomic-write.js';
import { UserError, errorMessage } from '../errors.js';

export function writeOutput(output: string | undefined, text: string, log: (line: string) => void): void {
  if (output === undefined) {
    process.stdout.write(text);
    return;
  }
  try {
    writeFileAtomic(output, text);
  } catch (error) {
    throw new UserError(`Cannot write --output ${output} (${errorMessage(error)}): choose a writable path.`);
  }
  log(`Wrote ${output}.`);
}
