import { renameSync, writeFileSync } from "node:fs";
import type { ReadyEndpoint } from "../clients/endpoint-slices.ts";
import type { CanarySplit } from "../clients/rollout-follower.ts";
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
  /** region → its Rollout's canary split, while one is followed */
  private splits: ReadonlyMap<string, CanarySplit> = new Map();
  /** slot → the weight last set on its server */
  private readonly weights = new Map<string, number>();
  private readonly o: {
    config: StackConfig;
    slots: readonly ReplicaSlot[];
    servicePrefix: string;
    haproxy: HaproxyApi;
    toxiproxy: ToxiproxyApi;
    self: string;
    podTargetsFile: string;
    /** servers the outlier pass holds at weight 0: left to it */
    ejected?: (slot: string) => boolean;
    /** run sync again with the endpoints as they are then (a pod left out by the readiness gate is looked at again) */
    resync?: () => void;
  };
  private retry: NodeJS.Timeout | undefined;

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
        // a readiness gate: kwok reports a pod Ready the moment it starts it, before its replica
        // listens (the bridge's probe corrects that half a second later); sent traffic then, the
        // gateway counts connection failures against the slot and ejects it
        if (!(await answers(e))) {
          log(`${e.pod} at ${addr(e)} is listed ready but does not answer /readyz: left out until it does`);
          // its Ready condition may not change again (the bridge's probe can agree with kwok at once): look again soon
          this.retry ??= setTimeout(() => {
            this.retry = undefined;
            this.o.resync?.();
          }, 500);
          continue;
        }
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
    await this.reweigh();
  }

  stop(): void {
    clearTimeout(this.retry);
  }

  /** A region's Rollout moved: its canary's pods get its weight of the region's traffic. */
  async setSplits(splits: ReadonlyMap<string, CanarySplit>): Promise<void> {
    this.splits = new Map(splits);
    await this.reweigh();
  }

  /** The weight a server should have now (the outlier pass restores this after an ejection). */
  weightOf(slot: string): number | undefined {
    return this.weights.get(slot) ?? this.o.slots.find((x) => x.name === slot)?.weight;
  }

  /**
   * Each server's weight: its slot's own, unless its region's Rollout is mid-canary. Then the
   * canary's pods (their pod-template hash is their ReplicaSet's, the second-to-last part of the
   * pod's name) share `weight` % of what the region's servers weigh together, the stable pods the
   * rest, so 5 % of the region's requests reach the canary whatever the replica counts are.
   */
  private async reweigh(): Promise<void> {
    for (const [slot, w] of targetWeights(this.o.slots, this.held, this.splits)) {
      if (this.weights.get(slot) === w || this.o.ejected?.(slot) === true) continue;
      await this.o.haproxy.setWeight("inference", slot, w);
      this.weights.set(slot, w);
    }
  }

  /** The pods in the gateway's slots, for Prometheus's file discovery (written whole, then renamed). */
  writePodTargets(): void {
    const targets = [...this.held].map(([slot, e]) => ({ targets: [`${e.ip}:${e.port}`], labels: { replica: e.pod, slot, region: this.regionOf(slot) ?? "unknown", ...(e.zone ? { zone: e.zone } : {}) } }));
    writeFileSync(`${this.o.podTargetsFile}.tmp`, JSON.stringify(targets, null, 1));
    renameSync(`${this.o.podTargetsFile}.tmp`, this.o.podTargetsFile);
  }
}

/** HAProxy refuses a server weight above this. */
const MAX_WEIGHT = 256;

/** The pod-template hash in a ReplicaSet's pod name (`<workload>-<hash>-<suffix>`). */
export function podHash(pod: string): string | undefined {
  const parts = pod.split("-");
  return parts.length >= 3 ? parts[parts.length - 2] : undefined;
}

/** Pure: each held slot's weight, given its region's canary split (see SlotKeeper.reweigh). */
export function targetWeights(slots: readonly ReplicaSlot[], held: ReadonlyMap<string, ReadyEndpoint>, splits: ReadonlyMap<string, CanarySplit>): Map<string, number> {
  const out = new Map<string, number>();
  const regions = new Set(slots.map((s) => s.region));
  for (const region of regions) {
    const mine = slots.filter((s) => s.region === region && held.has(s.name));
    const split = splits.get(region);
    const isCanary = (s: ReplicaSlot): boolean => split !== undefined && split.canary !== split.stable && podHash(held.get(s.name)?.pod ?? "") === split.canary;
    const canary = mine.filter(isCanary);
    const stable = mine.filter((s) => !isCanary(s));
    if (split === undefined || canary.length === 0 || stable.length === 0) {
      for (const s of mine) out.set(s.name, s.weight);
      continue;
    }
    const total = mine.reduce((n, s) => n + s.weight, 0);
    const share = (pct: number, n: number): number => Math.min(MAX_WEIGHT, Math.round((total * pct) / 100 / n));
    for (const s of canary) out.set(s.name, split.weight > 0 ? Math.max(1, share(split.weight, canary.length)) : 0);
    for (const s of stable) out.set(s.name, split.weight < 100 ? Math.max(1, share(100 - split.weight, stable.length)) : 0);
  }
  return out;
}

/** Whether the pod's server answers its readiness route now (a short look: a slot waits on it). */
async function answers(e: ReadyEndpoint): Promise<boolean> {
  try {
    const res = await fetch(`http://${e.ip}:${e.port}/readyz`, { signal: AbortSignal.timeout(500) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}
