/**
 * An error caused by what the user asked for (bad flag, unknown name, missing file). The CLI prints its message as
 * one line, without a stack trace, and exits non-zero. Every message names the problem and the fix.
 */
export class UserError extends Error {
  override readonly name = 'UserError';
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
  }
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The first line of an error's message: enough to say why something was skipped, without a stack. */
export function firstLine(error: unknown): string {
  return (
    errorMessage(error)
      .split('\n')
      .find((line) => line.trim() !== '') ?? 'unknown error'
  );
}
