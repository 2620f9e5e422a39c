/** What a replica reports about its GPU memory (the simulated replica's /admin/state `gpu`). */
export interface GpuState {
  capacityMiB: number;
  usedMiB: number;
  pressureMiB: number;
}

const ramps = new Map<string, NodeJS.Timeout>();

/**
 * Drives a replica's GPU memory from what it uses without pressure to `rampTo` % of capacity in
 * `steps` equal steps, `every` ms apart: the first step now, the rest in the background until a
 * step says stop (the replica ran out of memory or died) or `stopGpuRamp(key)` is called (revert).
 * `set` returns whether to go on.
 */
export async function startGpuRamp(o: { key: string; rampTo: number; steps: number; every: number; gpu: GpuState; set: (setMiB: number) => Promise<boolean> }): Promise<void> {
  const base = o.gpu.usedMiB - o.gpu.pressureMiB;
  const top = (o.gpu.capacityMiB * o.rampTo) / 100;
  let i = 0;
  const step = async (): Promise<boolean> => {
    i++;
    const more = await o.set(Math.max(0, Math.round(((top - base) * i) / o.steps))).catch(() => false);
    return more && i < o.steps;
  };
  if (!(await step())) return;
  const next = (): void => {
    ramps.set(
      o.key,
      setTimeout(() => {
        void step().then((more) => (more && ramps.has(o.key) ? next() : ramps.delete(o.key)));
      }, o.every),
    );
  };
  next();
}

export function stopGpuRamp(key: string): void {
  clearTimeout(ramps.get(key));
  ramps.delete(key);
}
