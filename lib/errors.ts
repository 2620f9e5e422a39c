/**
 * Exit codes: only `pass` exits 0; "the system failed" (1) is kept apart from "could not run" (4),
 * and "the instrument could not tell, run it again" (5) from both.
 */
export const ExitCode = {
  pass: 0,
  fail: 1,
  invalid: 2,
  aborted: 3,
  error: 4,
  inconclusive: 5,
} as const;

/** Which exit code says more about a suite: a failure outweighs an inconclusive run, which outweighs a pass. */
const SEVERITY: Record<number, number> = { [ExitCode.pass]: 0, [ExitCode.inconclusive]: 1, [ExitCode.fail]: 2, [ExitCode.invalid]: 3, [ExitCode.aborted]: 4, [ExitCode.error]: 5 };

export function worseExit(a: number, b: number): number {
  return (SEVERITY[b] ?? 6) > (SEVERITY[a] ?? 6) ? b : a;
}

export type ErrorCode =
  | "E_INVALID_INPUT"
  | "E_FILE"
  | "E_TARGET"
  | "E_DRIVER"
  | "E_REVERT"
  | "E_TIMEOUT"
  | "E_ABORTED"
  | "E_INCONCLUSIVE"
  | "E_INTERRUPTED"
  | "E_TOOL";

export class FaultlineError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A user mistake in a document: printed as `file:line:col: path: message` lines, never a stack. */
export class ValidationError extends FaultlineError {
  readonly problems: readonly Problem[];

  constructor(problems: readonly Problem[]) {
    super("E_INVALID_INPUT", problems.map(formatProblem).join("\n"));
    this.problems = problems;
  }
}

export interface Problem {
  file: string;
  line: number;
  col: number;
  path: string;
  message: string;
}

/** The longest problem message printed: the start of a long value says enough. */
const MAX_MESSAGE = 400;

/** One line a terminal shows as it is: control characters escaped, long text shortened. */
export function printable(text: string, max = MAX_MESSAGE): string {
  // eslint-disable-next-line no-control-regex -- the control characters are what is matched
  const safe = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  return safe.length > max ? `${safe.slice(0, max)}… (${safe.length - max} more characters)` : safe;
}

export function formatProblem(p: Problem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.col}` : p.file;
  return printable(`${where}: ${p.path === "" ? "(document)" : p.path}: ${p.message}`);
}

/** A fault backend (Toxiproxy, Kubernetes, a process) refused or could not be reached. */
export class DriverError extends FaultlineError {
  readonly driver: string;

  constructor(driver: string, message: string, options?: { cause?: unknown }) {
    super("E_DRIVER", `${driver}: ${message}`, options);
    this.driver = driver;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? ` (cause: ${err.cause.message})` : "";
    return `${err.message}${cause}`;
  }
  return String(err);
}
