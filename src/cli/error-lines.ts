/**
 * The problems an error reports, one line each. oclif's parse errors span several lines — a header ("The following
 * error occurred:", "Parsing --flag"), one line per problem, and a "See more help" footer — so the header and footer
 * are dropped, each problem keeps the flag it is about, and nothing the user needs is cut.
 */
import { gpuBackendHint } from '../engine/backends.js';
import { didYouMean } from '../nearest-name.js';

const NOISE = /^(The following errors? occurred:|See more help with --help)$/;

/**
 * oclif's line for a value outside a flag's options, with the options nearest it (`--format=mardown (did you mean
 * markdown?)`), or, for a --backend such as cuda, where a GPU is.
 */
function withOptionHint(line: string): string {
  const expected = /^Expected --([\w-]+)=(.*) to be one of: (.*)$/.exec(line);
  if (expected === null) return line;
  const [, flag, value, options] = expected as unknown as [string, string, string, string];
  const gpu = flag === 'backend' ? gpuBackendHint(value) : '';
  if (gpu !== '') return `${line}.${gpu}`;
  const near = didYouMean(value, options.split(', '));
  return near === '' ? line : `Expected --${flag}=${value}${near} to be one of: ${options}`;
}

export function errorLines(message: string): string[] {
  const lines = message
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !NOISE.test(line));
  const parsing = /^Parsing (--[\w-]+)$/.exec(lines[0] ?? '');
  if (parsing !== null) {
    const flag = parsing[1]!;
    // A flag's own parser may already name it (mceval's helpers do); oclif's built-in checks do not.
    const reasons = lines.slice(1).map((line) => withOptionHint(line.includes(flag) ? line : `${flag}: ${line}`));
    return reasons.length > 0 ? reasons : [lines[0]!];
  }
  const problems = lines.map((line) =>
    withOptionHint(line.replace(/^Missing required flag ([\w-]+)$/, 'Missing required flag --$1')),
  );
  return problems.length > 0 ? problems : ['unknown error'];
}
