import { readFileSync } from "node:fs";
import { FREEZE_BOUNDS, INSTRUMENT_BOUNDS } from "../judge/instrument.ts";
import type { Freeze } from "../judge/instrument.ts";
import { cpuSecondsOf, groupMembers, ownHelpers } from "../proc/group.ts";
import type { HostSample } from "../schema/run-record.ts";

const EVERY_MS = 1000;

/**
 * Busy and total jiffies of all CPUs, of them those in interrupts (irq and softirq: where the kernel
 * accounts them apart, no process's time holds them), and how many CPUs there are (/proc/stat).
 */
function cpuTimes(): { busy: number; irq: number; total: number; cores: number } | undefined {
  try {
    const lines = readFileSync("/proc/stat", "utf8").split("\n");
    const f = (lines[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((s, x) => s + (x || 0), 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: total - idle, irq: (f[5] ?? 0) + (f[6] ?? 0), total, cores: lines.filter((l) => /^cpu\d+ /.test(l)).length || 1 };
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by every live process of these process groups. */
function groupCpuSeconds(pgids: readonly number[]): number {
  let seconds = 0;
  for (const pgid of pgids) for (const pid of groupMembers(pgid)) seconds += cpuSecondsOf(pid, true);
  return seconds;
}

export interface HostMonitor {
  stop(): void;
}

export interface HostClocks {
  wall(): number;
  mono(): number;
}

const REAL_CLOCKS: HostClocks = { wall: () => Date.now(), mono: () => performance.now() };

/** A tick's freeze, if it was one: a late tick (a paused VM whose clocks both ran on) or clocks that parted (one whose monotonic clock stood still, or a stepped wall clock). */
export function freezeBetween(prev: { wall: number; mono: number }, now: { wall: number; mono: number }): Freeze | undefined {
  const wallMs = now.wall - prev.wall;
  const monoMs = now.mono - prev.mono;
  if (wallMs <= FREEZE_BOUNDS.gapMs && Math.abs(wallMs - monoMs) <= FREEZE_BOUNDS.clockJumpMs) return undefined;
  return { from: prev.wall, to: now.wall, wallMs: Math.round(wallMs), monoMs: Math.round(monoMs) };
}

/**
 * Samples the host's CPU every second into `samples`, in cores: all busy, faultline's own, the system
 * under test's (the process groups `sut` names: the stack's and the cluster's, when faultline
 * started them; an empty list for a system elsewhere), the kernel's interrupt work (mostly the
 * network's receive path, for the system's and the generator's traffic alike: not called other work;
 * with the stack in containers it was 0.17 cores at 2,000 req/s, a third of the bound), and the rest —
 * other work, which starves the system and the generator alike. `sut` undefined: the system runs here
 * but its processes cannot be told apart (containers of an engine in a VM, a system on loopback that
 * faultline did not start), so no share is called other.
 */
export function startHostMonitor(
  samples: HostSample[],
  sut: () => number[] | undefined,
  onStarved?: (s: HostSample) => void,
  onFrozen?: (f: Freeze) => void,
  clocks: HostClocks = REAL_CLOCKS,
): HostMonitor {
  let prev = cpuTimes();
  let prevOwn = process.cpuUsage();
  // faultline's processes apart from this one (ownHelpers): CPU seconds by pid at the last tick
  const helperCpu = (): Map<number, number> => new Map([...ownHelpers].map((pid) => [pid, cpuSecondsOf(pid)]));
  let prevHelpers = helperCpu();
  let prevSut = groupCpuSeconds(sut() ?? []);
  let prevAt = clocks.mono();
  let tick = { wall: clocks.wall(), mono: prevAt };
  let starved = false;
  const timer = setInterval(() => {
    const now = cpuTimes();
    const at = clocks.mono();
    const thisTick = { wall: clocks.wall(), mono: at };
    const frozen = freezeBetween(tick, thisTick);
    tick = thisTick;
    if (frozen !== undefined) onFrozen?.(frozen);
    if (now === undefined || prev === undefined || now.total === prev.total) return;
    const share = (now.busy - prev.busy) / (now.total - prev.total);
    const seconds = (at - prevAt) / 1000;
    const own = process.cpuUsage(prevOwn);
    const helpersNow = helperCpu();
    let helpers = 0;
    for (const [pid, cpu] of helpersNow) helpers += Math.max(0, cpu - (prevHelpers.get(pid) ?? 0));
    const groups = sut();
    const sutNow = groupCpuSeconds(groups ?? []);
    const irq = ((now.irq - prev.irq) / (now.total - prev.total)) * now.cores;
    const s: HostSample = { t: thisTick.wall, cores: now.cores, busy: round(share * now.cores), own: round(((own.user + own.system) / 1e6 + helpers) / seconds), irq: round(irq) };
    if (groups !== undefined) {
      s.sut = round(Math.max(0, sutNow - prevSut) / seconds);
      s.other = round(Math.max(0, s.busy - s.own - s.sut - irq));
      const now = (s.other ?? 0) > INSTRUMENT_BOUNDS.otherCores;
      if (now && !starved) onStarved?.(s);
      starved = now;
    }
    samples.push(s);
    prev = now;
    prevOwn = process.cpuUsage();
    prevHelpers = helpersNow;
    prevSut = sutNow;
    prevAt = at;
  }, EVERY_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

const round = (x: number): number => Math.round(x * 100) / 100;
