import { renameSync, writeFileSync } from "node:fs";
import type { ReadyEndpoint } from "../clients/endpoint-slices.ts";
import type { ToxiproxyApi } from "../clients/toxiproxy.ts";
import type { StackConfig } from "./config.ts";
import type { HaproxyApi } from "./haproxy-api.ts";
import type { ReplicaSlot } from "./topology.ts";

const log = (line: string): void => void process.stderr.write(`${new Date().toISOString()} ${line}\n`);

/**
 * The kubernetes placement's gateway slots: each ready pod of a region's Service takes a free slot
 * of that region (its Toxiproxy pair pointed at the pod, its gateway server out of maintenance); a
 * pod that is no longer ready gives its slot back (server into maintenance first, so no request is
 * sent to a stale address). A free slot's proxies point at this stack's own reserved port.
 */
export class SlotKeeper {
  /** slot name → the pod endpoint holding it */
  readonly held = new Map<string, ReadyEndpoint>();
  private readonly o: { config: StackConfig; slots: readonly ReplicaSlot[]; servicePrefix: string; haproxy: HaproxyApi; toxiproxy: ToxiproxyApi; self: string; podTargetsFile: string };

  constructor(o: SlotKeeper["o"]) {
    this.o = o;
  }

  regionOf(slot: string): string | undefined {
    return this.o.slots.find((x) => x.name === slot)?.region;
  }

  /** Whether every region that should serve has a pod in a slot. */
  everyRegionServed(): boolean {
    const want = this.o.config.regions.filter((r) => r.replicas > 0).map((r) => r.name);
    return want.every((r) => [...this.held.keys()].some((slot) => this.regionOf(slot) === r));
  }

  async sync(ready: Map<string, ReadyEndpoint[]>): Promise<void> {
    const { slots, haproxy, toxiproxy: tp, self } = this.o;
    const addr = (e: ReadyEndpoint): string => `${e.ip}:${e.port}`;
    for (const r of this.o.config.regions) {
      const eps = ready.get(`${this.o.servicePrefix}${r.name}`) ?? [];
      const wanted = new Set(eps.map(addr));
      const mine = slots.filter((x) => x.region === r.name);
      for (const slot of mine) {
        const e = this.held.get(slot.name);
        if (e === undefined || wanted.has(addr(e))) continue;
        await haproxy.setState("inference", slot.name, "maint");
        await tp.setUpstream(slot.proxyName, `${self}:${slot.port}`);
        await tp.setUpstream(slot.healthProxyName, `${self}:${slot.port}`);
        this.held.delete(slot.name);
        log(`slot ${slot.name} freed (${e.pod} at ${addr(e)} no longer ready)`);
      }
      const holding = new Set([...this.held.values()].map(addr));
      for (const e of eps) {
        if (holding.has(addr(e))) continue;
        const slot = mine.find((x) => !this.held.has(x.name));
        if (slot === undefined) {
          log(`no free gateway slot in ${r.name} for ${e.pod} (${mine.length} slots)`);
          break;
        }
        await tp.setUpstream(slot.proxyName, addr(e));
        await tp.setUpstream(slot.healthProxyName, addr(e));
        await haproxy.setState("inference", slot.name, "ready");
        this.held.set(slot.name, e);
        log(`slot ${slot.name} → ${e.pod} at ${addr(e)}`);
      }
    }
    this.writePodTargets();
  }

  /** The pods in the gateway's slots, for Prometheus's file discovery (written whole, then renamed). */
  writePodTargets(): void {
    const targets = [...this.held].map(([slot, e]) => ({ targets: [`${e.ip}:${e.port}`], labels: { replica: e.pod, slot, region: this.regionOf(slot) ?? "unknown", ...(e.zone ? { zone: e.zone } : {}) } }));
    writeFileSync(`${this.o.podTargetsFile}.tmp`, JSON.stringify(targets, null, 1));
    renameSync(`${this.o.podTargetsFile}.tmp`, this.o.podTargetsFile);
  }
}
