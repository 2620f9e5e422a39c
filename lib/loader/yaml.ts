import { closeSync, constants, fstatSync, lstatSync, openSync, readSync } from "node:fs";
import { Lexer, LineCounter, isAlias, isMap, isPair, isScalar, isSeq, parseAllDocuments } from "yaml";
import type { Document, Node as YamlNode } from "yaml";
import { FaultlineError } from "../errors.ts";
import type { Problem } from "../errors.ts";
import { quote } from "../text.ts";

/**
 * What a faultline document may be. An experiment is a few kilobytes; these bounds keep a hostile or
 * broken file (a FIFO, billion laughs, ten thousand keys, deep nesting) from hanging or exhausting
 * the loader, and each is named in the error it gives.
 */
export const YAML_LIMITS = {
  /** bytes in one file */
  fileBytes: 256 * 1024,
  /** `---` documents in one file */
  documents: 100,
  /** nesting of mappings and sequences */
  depth: 64,
  /** keys in one mapping */
  keysPerMap: 1000,
  /** items in one sequence */
  itemsPerSeq: 10_000,
  /** alias nodes (`*x`) in one document */
  aliases: 100,
  /** nodes that aliases may expand to, all together (yaml's maxAliasCount) */
  aliasExpansion: 1000,
} as const;

const KIB = 1024;

/** A document file that cannot be read as one: `reason` says why without the file's name. */
export class UnreadableFile extends FaultlineError {
  readonly file: string;
  readonly reason: string;

  constructor(file: string, reason: string, cause?: unknown) {
    super("E_FILE", `cannot read ${file}: ${reason}`, cause === undefined ? undefined : { cause });
    this.file = file;
    this.reason = reason;
  }
}

function fileError(file: string, reason: string, cause?: unknown): UnreadableFile {
  return new UnreadableFile(file, reason, cause);
}

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean }): string {
  if (st.isDirectory()) return "a folder";
  if (st.isFIFO()) return "a FIFO";
  if (st.isSocket()) return "a socket";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/**
 * Reads a document file, refusing what is not a regular file (a FIFO would block forever) and what
 * is larger than the limit. Opened non-blocking and checked on the open descriptor, so a file swapped
 * for a FIFO after a check cannot block either.
 */
export function readDocumentFile(file: string): string {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? String(cause);
    const dangling = code === "ENOENT" && (() => {
      try {
        return lstatSync(file).isSymbolicLink();
      } catch {
        return false;
      }
    })();
    throw fileError(file, dangling ? `${code} (a symbolic link to a file that does not exist)` : code, cause);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw fileError(file, `${kindOf(st)}, not a regular file: refusing to read it`);
    if (st.size > YAML_LIMITS.fileBytes) throw fileError(file, `${st.size} bytes, over the limit of ${YAML_LIMITS.fileBytes / KIB} KiB for a document`);
    const buf = Buffer.alloc(YAML_LIMITS.fileBytes + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, null);
      if (got === 0) break;
      n += got;
      if (n > YAML_LIMITS.fileBytes) throw fileError(file, `over the limit of ${YAML_LIMITS.fileBytes / KIB} KiB for a document (it grew while being read)`);
    }
    return buf.subarray(0, n).toString("utf8");
  } catch (err) {
    if (err instanceof FaultlineError) throw err;
    throw fileError(file, (err as NodeJS.ErrnoException).code ?? String(err), err);
  } finally {
    closeSync(fd);
  }
}

export interface ParsedYaml {
  doc: Document;
  /** the document as plain data; undefined for an empty document */
  data: unknown;
}

/** Flow collections (`[[[[…`) nested past the limit make yaml's parser slow: the lexer finds them first. */
function flowTooDeep(source: string): number | undefined {
  let depth = 0;
  let offset = 0;
  for (const token of new Lexer().lex(source)) {
    if (token === "[" || token === "{") {
      if (++depth > YAML_LIMITS.depth) return offset;
    } else if (token === "]" || token === "}") {
      depth = Math.max(0, depth - 1);
    }
    // the lexer's own markers are single control characters that are not part of the source
    if (!(token.length === 1 && token.charCodeAt(0) < 0x20 && token !== "\n" && token !== "\t" && token !== "\r")) offset += token.length;
  }
  return undefined;
}

/**
 * Structural limits and the problems yaml leaves to `toJS` (duplicate keys, aliases to no anchor),
 * checked on the syntax tree with the recursion bounded by the depth limit.
 */
function structureProblems(doc: Document, at: (node: YamlNode | undefined, message: string) => Problem): Problem[] {
  const out: Problem[] = [];
  let aliases = 0;
  const walk = (node: unknown, depth: number): void => {
    if (out.length > 0) return;
    if (isAlias(node)) {
      aliases++;
      if (aliases > YAML_LIMITS.aliases) out.push(at(node, `more than ${YAML_LIMITS.aliases} aliases in one document (the limit)`));
      else if (node.resolve(doc) === undefined) out.push(at(node, `alias *${node.source} refers to no anchor &${node.source} defined before it`));
      return;
    }
    if (!isMap(node) && !isSeq(node)) return;
    if (depth > YAML_LIMITS.depth) {
      out.push(at(node as YamlNode, `nested more than ${YAML_LIMITS.depth} levels deep (the limit)`));
      return;
    }
    if (isMap(node)) {
      if (node.items.length > YAML_LIMITS.keysPerMap) {
        out.push(at(node, `${node.items.length} keys in one mapping, over the limit of ${YAML_LIMITS.keysPerMap}`));
        return;
      }
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        if (pair.key !== null && !isScalar(pair.key)) {
          // `? [a, b]: c` — a JSON object cannot have it; yaml would stringify it with a warning
          out.push(at(pair.key as YamlNode, `a key must be a plain value, found ${isMap(pair.key) ? "a mapping" : isSeq(pair.key) ? "a list" : "an alias"}`));
          return;
        }
        if (isScalar(pair.key)) {
          const k = String(pair.key.value);
          if (seen.has(k)) {
            out.push(at(pair.key, `duplicate key ${quote(k)}`));
            return;
          }
          seen.add(k);
        }
        walk(pair.key, depth + 1);
        walk(pair.value, depth + 1);
      }
      return;
    }
    if (node.items.length > YAML_LIMITS.itemsPerSeq) {
      out.push(at(node, `${node.items.length} items in one sequence, over the limit of ${YAML_LIMITS.itemsPerSeq}`));
      return;
    }
    for (const item of node.items) walk(item, depth + 1);
  };
  walk(doc.contents, 1);
  return out;
}

/**
 * A broken file can give yaml thousands of syntax errors, and each Error captures a stack trace:
 * with a deep parser stack and no limit on trace length (mocha sets none) that took seconds. The
 * errors are reported by position, so their traces are not needed; the parse is synchronous.
 */
function withoutStackTraces<T>(fn: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return fn();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** Parses every YAML document in `source` within YAML_LIMITS; each problem is located, nothing throws. */
export function parseYaml(file: string, source: string, lc: LineCounter = new LineCounter()): { docs: ParsedYaml[]; problems: Problem[] } {
  const pos = (offset: number): { line: number; col: number } => {
    const { line, col } = lc.linePos(offset);
    return { line, col };
  };
  const problem = (offset: number, message: string): Problem => ({ file, ...pos(offset), path: "", message });
  const bytes = Buffer.byteLength(source, "utf8");
  if (bytes > YAML_LIMITS.fileBytes) {
    return { docs: [], problems: [{ file, line: 1, col: 1, path: "", message: `${bytes} bytes, over the limit of ${YAML_LIMITS.fileBytes / KIB} KiB for a document` }] };
  }
  const deep = flowTooDeep(source);
  if (deep !== undefined) {
    // the line counter is filled by a parse; count lines by hand for this one
    const before = source.slice(0, deep);
    const line = before.split("\n").length;
    return { docs: [], problems: [{ file, line, col: deep - before.lastIndexOf("\n"), path: "", message: `flow collections nested more than ${YAML_LIMITS.depth} levels deep (the limit)` }] };
  }
  // yaml's own duplicate-key check is quadratic in the keys of a mapping; structureProblems does it in one pass
  const all = withoutStackTraces(() => parseAllDocuments(source, { lineCounter: lc, prettyErrors: false, uniqueKeys: false }));
  const list = Array.isArray(all) ? all : [];
  const problems: Problem[] = [];
  if (list.length > YAML_LIMITS.documents) {
    return { docs: [], problems: [problem(list[YAML_LIMITS.documents]?.range[0] ?? 0, `${list.length} documents in one file, over the limit of ${YAML_LIMITS.documents}`)] };
  }
  const docs: ParsedYaml[] = [];
  for (const doc of list) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problems.push(problem(e.pos[0], `YAML syntax: ${e.message.split("\n")[0] ?? ""}`));
      continue;
    }
    const structural = structureProblems(doc, (node, message) => problem(node?.range?.[0] ?? doc.range[0], message));
    if (structural.length > 0) {
      problems.push(...structural);
      continue;
    }
    try {
      docs.push({ doc, data: doc.toJS({ maxAliasCount: YAML_LIMITS.aliasExpansion }) as unknown });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      problems.push(problem(doc.range[0], /alias count/i.test(why) ? `aliases expand to more than ${YAML_LIMITS.aliasExpansion} nodes (the limit; a "billion laughs" document?)` : `YAML: ${why}`));
    }
  }
  return { docs, problems };
}
