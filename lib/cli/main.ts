import { readFileSync } from "node:fs";
import { Command, CommanderError, Option } from "commander";
import { ExitCode, FaultlineError, ValidationError, errorMessage } from "../errors.ts";
import { faultKindsMarkdown } from "../schema/faults.ts";
import { SCHEMA_KINDS, jsonSchema } from "../schema/json-schema.ts";
import type { SchemaKind } from "../schema/json-schema.ts";
import { addGameDayCommand } from "./gameday-command.ts";
import { addK8sCommands } from "./k8s-commands.ts";
import { addLoadCommands } from "./load-commands.ts";
import { print } from "./options.ts";
import { addRecordCommands } from "./record-commands.ts";
import { addRunCommands } from "./run-commands.ts";
import { addStackCommands } from "./stack-commands.ts";
import { addRulesCommands } from "./rules-commands.ts";

const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const EXAMPLES = `
Examples:
  $ faultline validate experiments/
  $ faultline run experiments/region-partition.yaml --target target.yaml
  $ faultline run experiments/ --target target.yaml --time-scale 0.1
  $ faultline recover                      # revert what crashed runs left in reports/
  $ faultline recover --sweep --toxiproxy http://127.0.0.1:8474
  $ faultline recover --containers          # and remove containers of testcontainers runs that died
  $ faultline schema > experiment.schema.json

Exit codes: 0 pass, 1 fail (the system failed an assertion), 2 invalid input,
            3 aborted (steady state, abort condition or interrupt), 4 error (could not run).`;

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command("faultline")
    .description("Chaos experiments for AI inference fleets: inject faults, watch, judge, never leave a fault behind.")
    .version(pkg.version)
    .addHelpText("after", EXAMPLES)
    .exitOverride()
    .showHelpAfterError("(faultline --help lists commands and examples)");
  addRunCommands(program, setExit);
  addRecordCommands(program, setExit);
  program
    .command("schema")
    .description("print the JSON Schema of a document kind (for editors: yaml-language-server)")
    .addOption(new Option("--kind <kind>", "document kind").choices(Object.keys(SCHEMA_KINDS)).default("experiment"))
    .option("--run", "the schema of run.json (same as --kind run)")
    .action((flags: { kind: SchemaKind; run?: boolean }) => print(JSON.stringify(jsonSchema(flags.run ? "run" : flags.kind), null, 2)));
  program
    .command("kinds")
    .description("list the fault kinds: which backends inject each, what it does, its parameters")
    .action(() => {
      print(faultKindsMarkdown());
      setExit(ExitCode.pass);
    });
  addStackCommands(program, setExit);
  addRulesCommands(program, setExit);
  addK8sCommands(program, setExit);
  addGameDayCommand(program, setExit);
  addLoadCommands(program, setExit);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  // A closed pipe (`faultline run … | head`) must not kill a run before it reverts and stops its stack.
  for (const stream of [process.stdout, process.stderr]) stream.on("error", () => undefined);
  let code: number = ExitCode.pass;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      return err.exitCode === 0 ? 0 : ExitCode.invalid;
    }
    if (err instanceof ValidationError) {
      process.stderr.write(`${err.message}\n`);
      return ExitCode.invalid;
    }
    if (err instanceof FaultlineError) {
      process.stderr.write(`faultline: ${errorMessage(err)}\n`);
      return err.code === "E_INVALID_INPUT" || err.code === "E_FILE" ? ExitCode.invalid : ExitCode.error;
    }
    process.stderr.write(`faultline: internal error: ${err instanceof Error ? err.stack : String(err)}\n`);
    return ExitCode.error;
  }
}

