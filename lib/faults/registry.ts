import { FaultlineError } from "../errors.ts";
import type { Fault } from "../spec/experiment.ts";
import { stackDriver, stackKinds } from "./stack/kinds.ts";
import { toxiproxyDriver, toxiproxyKinds } from "./toxiproxy/kinds.ts";
import type { Driver, FaultKindHandler, FaultPlan, PlanContext } from "./types.ts";

const kinds = new Map<string, FaultKindHandler>();
const drivers = new Map<string, Driver>();

type AnyKindHandler = { [K in Fault["kind"]]: FaultKindHandler<Extract<Fault, { kind: K }>> }[Fault["kind"]];

export function registerFaultKind(handler: AnyKindHandler): void {
  // Each handler is only ever called with faults of its own kind (looked up by fault.kind).
  kinds.set(handler.kind, handler as unknown as FaultKindHandler);
}

export function registerDriver(driver: Driver): void {
  drivers.set(driver.name, driver);
}

for (const k of [...toxiproxyKinds, ...stackKinds]) registerFaultKind(k);
registerDriver(toxiproxyDriver);
registerDriver(stackDriver);

export function planFault(fault: Fault, ctx: PlanContext): Promise<FaultPlan> {
  const handler = kinds.get(fault.kind);
  if (handler === undefined) {
    throw new FaultlineError("E_TARGET", `no handler for fault kind "${fault.kind}" (known: ${[...kinds.keys()].join(", ")})`);
  }
  return handler.plan(fault, ctx);
}

export function driverFor(name: string): Driver {
  const driver = drivers.get(name);
  if (driver === undefined) {
    throw new FaultlineError("E_DRIVER", `no driver "${name}" to revert with (known: ${[...drivers.keys()].join(", ")})`);
  }
  return driver;
}
