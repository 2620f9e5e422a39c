import { FaultlineError } from "../errors.ts";
import type { Fault } from "../schema/experiment.ts";
import { kubernetesDriver, kubernetesKinds } from "./kubernetes/kinds.ts";
import { stackDriver, stackKinds } from "./stack/kinds.ts";
import { toxiproxyDriver, toxiproxyKinds } from "./toxiproxy/kinds.ts";
import type { Driver, FaultKindHandler, FaultPlan, PlanContext } from "./types.ts";

const kinds = new Map<string, FaultKindHandler[]>();
const drivers = new Map<string, Driver>();

type AnyKindHandler = { [K in Fault["kind"]]: FaultKindHandler<Extract<Fault, { kind: K }>> }[Fault["kind"]];

export function registerFaultKind(handler: AnyKindHandler): void {
  // Each handler is only ever called with faults of its own kind (looked up by fault.kind).
  kinds.set(handler.kind, [...(kinds.get(handler.kind) ?? []), handler as unknown as FaultKindHandler]);
}

export function registerDriver(driver: Driver): void {
  drivers.set(driver.name, driver);
}

// Kubernetes first: where a target has a kubernetes section, its handlers take the kinds they share.
for (const k of [...kubernetesKinds, ...toxiproxyKinds, ...stackKinds]) registerFaultKind(k);
registerDriver(toxiproxyDriver);
registerDriver(stackDriver);
registerDriver(kubernetesDriver);

export function planFault(fault: Fault, ctx: PlanContext): Promise<FaultPlan> {
  const handler = kinds.get(fault.kind)?.find((h) => h.appliesTo?.(ctx.target) ?? true);
  if (handler === undefined) {
    throw new FaultlineError("E_TARGET", kinds.has(fault.kind)
        ? `fault kind "${fault.kind}" has no handler for target ${ctx.target.metadata.name} (it needs a kubernetes, toxiproxy or stack section that serves it)`
        : `no handler for fault kind "${fault.kind}" (known: ${[...kinds.keys()].join(", ")})`);
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
