import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { ROOT } from "./servers.ts";
import { seeded } from "../../lib/judge/stats.ts";

/**
 * Hostile documents for the loader, from a seed: the shipped experiments, scenarios and game day,
 * mutated the way a fuzzer and a careless or malicious author would — prototype names, overflowing
 * numbers, control characters, aliases and anchors, deep nesting, huge mappings, truncation, byte
 * flips, and references to scenario files that are FIFOs, folders, dangling links or cycles.
 */
/** The same seeded generator the reports' bootstrap uses (mulberry32). */
export const prng = seeded;

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
const int = (r: Rand, n: number): number => Math.floor(r() * n);

const PROTO = ["toString", "__proto__", "constructor", "hasOwnProperty", "valueOf", "prototype", "isPrototypeOf", "__defineGetter__"];

function nested(depth: number, seq: boolean): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = seq ? [v] : { a: v };
  return v;
}

function hostileValue(r: Rand): unknown {
  const choices: (() => unknown)[] = [
    () => pick(r, PROTO),
    () => `1${"0".repeat(1 + int(r, 400))}s`,
    () => "99999999999999999999h",
    () => `${int(r, 1e6)}${pick(r, ["ms", "s", "m", "h", "d", "", "sec", "mss"])}`,
    () => pick(r, [1e308, -1e308, -1, 0, 0.5, 2 ** 53 + 1, -0, 1e-320]),
    () => "",
    () => null,
    () => [],
    () => ({}),
    () => ({ [pick(r, PROTO)]: 1 }),
    () => "x".repeat(int(r, 100_000)),
    () => String.fromCharCode(...Array.from({ length: 1 + int(r, 20) }, () => int(r, 32))),
    () => "\u202e\u2028\u{1F600}é\u0000",
    () => pick(r, ["${x}", "${}", "${toString}", "${__proto__}", "$${a}", "${a", "${region}${region}"]),
    () => nested(1 + int(r, 90), r() < 0.5),
    () => Array.from({ length: int(r, 3) === 0 ? 12_000 : int(r, 50) }, () => 1),
    () => Object.fromEntries(Array.from({ length: int(r, 3) === 0 ? 1_200 : int(r, 40) }, (_, i) => [`k${i}`, i])),
    () => pick(r, [true, false, "yes", "no", "~", ".inf", ".nan", "0x1F", "1_000", "0o17"]),
    () => pick(r, ["latency", "partition", "nonsense", "Experiment", "Scenario", "GameDay", "Target", "Experimnt"]),
  ];
  return pick(r, choices)();
}

/** Every map and list below `v`, with the path to it, so a mutation can land anywhere. */
function containers(v: unknown, path: (string | number)[] = [], out: { path: (string | number)[]; node: Record<string, unknown> | unknown[] }[] = []): typeof out {
  if (Array.isArray(v)) {
    out.push({ path, node: v });
    v.forEach((x, i) => containers(x, [...path, i], out));
  } else if (v !== null && typeof v === "object") {
    out.push({ path, node: v as Record<string, unknown> });
    for (const [k, x] of Object.entries(v)) containers(x, [...path, k], out);
  }
  return out;
}

function mutateData(r: Rand, data: unknown, special: string[]): unknown {
  const copy: unknown = structuredClone(data);
  const all = containers(copy);
  for (let n = 1 + int(r, 3); n > 0; n--) {
    const { node } = pick(r, all.length ? all : [{ path: [], node: {} as Record<string, unknown> }]);
    if (Array.isArray(node)) {
      if (node.length && r() < 0.6) node[int(r, node.length)] = hostileValue(r);
      else node.push(hostileValue(r));
      continue;
    }
    const keys = Object.keys(node);
    const roll = r();
    if (keys.length && roll < 0.55) node[pick(r, keys)] = hostileValue(r);
    else if (roll < 0.75) Object.defineProperty(node, pick(r, [...PROTO, "zz", "kinds", "\u0001ctl", "a".repeat(300)]), { value: hostileValue(r), enumerable: true, writable: true, configurable: true });
    else if (roll < 0.85 && keys.length) delete node[pick(r, keys)];
    else node.scenarios = [{ use: pick(r, special), with: { [pick(r, [...PROTO, "region", "x", "duration"])]: hostileValue(r) } }];
  }
  return copy;
}

const FRAGMENTS = [
  "a: *x\n",
  "a: &x 1\nb: *x\n",
  "---\nkind: toString\n",
  "---\nkind: constructor\n---\nkind: __proto__\n",
  `a: &a [1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n`,
  `x: &a 1\n${Array.from({ length: 105 }, (_, i) => `y${i}: *a`).join("\n")}\n`,
  "\t- tab\n",
  "%YAML 1.1\n---\n",
  "? [a, b]\n: c\n",
  "<<: *base\n",
  "x: !!binary aGVsbG8=\ny: !custom 1\n",
  `x: ${"[".repeat(200)}${"]".repeat(200)}\n`,
  `x: ${"{a: ".repeat(80)}1${"}".repeat(80)}\n`,
  "\ufeffkind: Experiment\n",
  "kind: Experiment\nkind: Scenario\n",
  "x: 'unterminated\n",
  '"\\u0000": 1\n',
  "...\n---\n...\n",
];

function mutateText(r: Rand, text: string): string {
  const roll = r();
  if (roll < 0.3) {
    const lines = text.split("\n");
    lines.splice(int(r, lines.length + 1), 0, pick(r, FRAGMENTS).trimEnd());
    return lines.join("\n");
  }
  if (roll < 0.45) return text.slice(0, int(r, text.length));
  if (roll < 0.65) {
    const chars = [...text];
    for (let n = 1 + int(r, 8); n > 0; n--) chars[int(r, chars.length)] = String.fromCharCode(int(r, 128));
    return chars.join("");
  }
  if (roll < 0.75) {
    const lines = text.split("\n");
    const i = int(r, lines.length);
    lines.splice(i, 0, ...Array.from({ length: 1 + int(r, 30) }, () => lines[i] ?? ""));
    return lines.join("\n");
  }
  if (roll < 0.85) return `${text}\n${Array.from({ length: int(r, 2) ? 1500 : 12_000 }, (_, i) => `k${i}: ${i}`).join("\n")}\n`;
  return text.replace(/kind: \w+/, `kind: ${pick(r, [...PROTO, "Scenario", "Target", "GameDay", "{a: 1}", "[1]", "''"])}`);
}

/** A folder holding `scenarios/` (the shipped ones and hostile ones) beside the file each case is written to. */
export function hostileWorkspace(dir: string): { caseFile: string; special: string[] } {
  const sc = join(dir, "scenarios");
  mkdirSync(sc, { recursive: true });
  for (const f of readdirSync(join(ROOT, "scenarios"))) writeFileSync(join(sc, f), readFileSync(join(ROOT, "scenarios", f)));
  execFileSync("mkfifo", [join(sc, "fifo.yaml")]);
  symlinkSync(join(dir, "nowhere.yaml"), join(sc, "dangling.yaml"));
  mkdirSync(join(sc, "folder.yaml"));
  writeFileSync(join(sc, "huge.yaml"), `# ${"x".repeat(300 * 1024)}\n`);
  const head = "apiVersion: faultline.dev/v1\nkind: Scenario\nmetadata: {name: s}\n";
  writeFileSync(join(sc, "self.yaml"), `${head}params: {x: {default: "\${x}"}}\nfaults: [{kind: latency, selector: {matchLabels: {region: "\${x}"}}, duration: 1s, params: {latency: 1s}}]\n`);
  writeFileSync(join(sc, "cycle.yaml"), `${head}params: {a: {default: "\${b}"}, b: {default: "\${a}-z"}}\nfaults: [{kind: latency, selector: {matchLabels: {region: "\${a}"}}, duration: 1s, params: {latency: 1s}}]\n`);
  writeFileSync(join(sc, "bad-own.yaml"), `${head}faults: [{kind: nonsense, duration: soon}]\n`);
  writeFileSync(join(sc, "alias.yaml"), `${head}faults: [*nope]\n`);
  const special = ["fifo", "dangling", "folder", "huge", "self", "cycle", "bad-own", "alias", "region-outage", "latency-step", "./scenarios/fifo.yaml", "/dev/zero", "../../../../../../etc/passwd", "toString", "__proto__"];
  return { caseFile: join(dir, "case.yaml"), special };
}

const SEEDS = ["experiments", "scenarios", "gamedays"].flatMap((d) => readdirSync(join(ROOT, d)).filter((f) => f.endsWith(".yaml")).map((f) => readFileSync(join(ROOT, d, f), "utf8")));

/** The n-th hostile document of a seeded stream. */
export function hostileDocument(r: Rand, special: string[]): string {
  const seed = pick(r, SEEDS);
  if (r() < 0.55) {
    let data: unknown;
    try {
      data = parse(seed);
    } catch {
      return mutateText(r, seed);
    }
    const mutated = mutateData(r, data, special);
    const text = stringify(mutated, { aliasDuplicateObjects: false, lineWidth: 0 });
    return r() < 0.3 ? mutateText(r, text) : text;
  }
  return mutateText(r, seed);
}

const H = "apiVersion: faultline.dev/v1\nkind: Experiment\nmetadata: {name: x}\n";
const SC = "apiVersion: faultline.dev/v1\nkind: Scenario\nmetadata: {name: s}\n";

/**
 * The inputs that crashed or hung the loader before it had limits (minimised), each with what its
 * error must say. `scenarios/<name>` refers to the hostile workspace's scenario files.
 */
export const CRASH_INPUTS: Record<string, { source: string; says: RegExp }> = {
  "kind-tostring": { source: "kind: toString\n", says: /:1:7: kind: unknown kind "toString"/ },
  "kind-proto": { source: "kind: __proto__\n", says: /unknown kind "__proto__"/ },
  "kind-constructor-later-doc": { source: `${H}---\nkind: constructor\n`, says: /:5:7: kind: unknown kind "constructor"/ },
  "kind-hasownproperty": { source: "kind: hasOwnProperty\n", says: /unknown kind "hasOwnProperty"/ },
  "kind-valueof": { source: "kind: valueOf\n", says: /unknown kind "valueOf"/ },
  "kind-mapping": { source: "kind: {a: 1}\n", says: /kind must be a string, found a mapping/ },
  "alias-missing": { source: `${H}hypothesis: *x\n`, says: /:4:13: .*alias \*x refers to no anchor &x/ },
  "alias-later": { source: `${H}hypothesis: *x\ndescription: &x 1\n`, says: /alias \*x refers to no anchor/ },
  "alias-100": { source: `${H}a: &a 1\n${Array.from({ length: 101 }, (_, i) => `b${i}: *a`).join("\n")}\n`, says: /more than 100 aliases in one document \(the limit\)/ },
  "billion-laughs": { source: FRAGMENTS[4] as string, says: /aliases expand to more than 1000 nodes \(the limit/ },
  "duration-overflow": { source: `${H}phases: {baseline: 1${"0".repeat(400)}s}\n`, says: /phases\.baseline: duration .* is longer than the limit of 168h/ },
  "duration-hours": { source: `${H}phases: {recovery: 99999999999999999999h}\n`, says: /longer than the limit of 168h/ },
  "rate-1e308": { source: `${H}load: {rate: 1e308}\n`, says: /:4:14: load\.rate: .*1000000/ },
  "scenario-own-faults": { source: `${SC}faults: [{kind: nonsense, duration: soon}]\n`, says: /faults\[0\]\.kind: unknown fault kind "nonsense"/ },
  "param-self-default": { source: `${SC}params: {x: {default: "\${x}"}}\nfaults: [{kind: latency, selector: {matchLabels: {region: "\${x}"}}, duration: 1s, params: {latency: 1s}}]\n`, says: /parameter "x" refers to itself: x → x/ },
  "with-tostring": { source: `${H}scenarios: [{use: region-outage, with: {region: us-east, toString: 1}}]\n`, says: /scenario "region-outage" has no parameter "toString"/ },
  "control-char-key": { source: `${H}"a\\u0001b": 1\nzz: 2\n`, says: /:4:1: \["a\\u0001b"\]: unknown key "a\\u0001b"/ },
  "huge-value": { source: `${H}phases: {baseline: ${"x".repeat(1_000_000 / 8)}}\n`, says: /invalid duration "x{60}…" \(125000 characters\)/ },
  "keys-10k": { source: `${H}${Array.from({ length: 10_000 }, (_, i) => `k${i}: 1`).join("\n")}\n`, says: /10003 keys in one mapping, over the limit of 1000/ },
  "deep-flow": { source: `${H}x: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`, says: /flow collections nested more than 64 levels deep/ },
  "deep-block": { source: `${H}x:\n${Array.from({ length: 80 }, (_, i) => `${" ".repeat(2 * i + 2)}a:`).join("\n")} 1\n`, says: /nested more than 64 levels deep/ },
  "scenario-fifo": { source: `${H}scenarios: [{use: fifo}]\n`, says: /:4:19: scenarios\[0\]\.use: scenario "fifo": cannot read .*fifo\.yaml: a FIFO, not a regular file/ },
};
