/**
 * What every mceval command shares: `--json` (the command's return value is then the only thing printed),
 * `--verbose`, and one-line errors: a user mistake or failure prints "Error: …" and exits non-zero; the stack trace
 * appears only with --verbose or DEBUG set.
 */
import { Command, Flags } from '@oclif/core';
import { UserError, firstLine } from '../errors.js';
import { errorLines } from './error-lines.js';
import { nonexistentFlagLines } from './foreign-flags.js';

export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    verbose: Flags.boolean({ description: 'Print stack traces of errors.', default: false, helpGroup: 'GLOBAL' }),
    help: Flags.help({ char: 'h', description: 'Show this help.', helpGroup: 'GLOBAL' }),
  };

  protected override async catch(
    error: Error & { exitCode?: number; oclif?: { exit?: number }; flags?: unknown },
  ): Promise<unknown> {
    const verbose = process.argv.includes('--verbose') || Boolean(process.env['DEBUG']);
    const exitCode = error instanceof UserError ? error.exitCode : (error.oclif?.exit ?? 1);
    // oclif's own exits (help, version) carry code 0 and need no message.
    if (exitCode === 0) throw error;
    // oclif's parse errors (a flag parser's own UserError included) keep every problem, one line each.
    const fromParser = error.oclif !== undefined || error.message.startsWith('Parsing --');
    const lines = fromParser ? (this.nonexistentFlagLines(error) ?? errorLines(error.message)) : [firstLine(error)];
    const message = lines.join('; ');
    if (this.jsonEnabled()) {
      this.logJson({ error: { message, code: exitCode } });
    } else {
      process.stderr.write(
        verbose && error.stack ? `${error.stack}\n` : lines.map((line) => `Error: ${line}\n`).join(''),
      );
    }
    return this.exit(exitCode);
  }

  /** oclif's error for flags the command does not have, with what to use instead (foreign-flags.ts). */
  private nonexistentFlagLines(error: Error & { flags?: unknown }): string[] | undefined {
    const flags = error.flags;
    if (!error.message.startsWith('Nonexistent flag') || !Array.isArray(flags)) return undefined;
    const known = new Set(Object.keys({ ...this.ctor.baseFlags, ...this.ctor.flags }));
    return nonexistentFlagLines(flags as string[], known);
  }
}
