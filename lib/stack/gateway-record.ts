import type { GatewayBucket, GatewayRecord } from "../schema/run-record.ts";

/**
 * The gateway's `fl buckets <since>` answer (gateway-latency.lua): a "bucket <ms>" line, a "bounds <s>,<s>,…" line, then
 * per 100 ms of accept time "<start ms> <accepted> <ok> <region>=<ok>,… <slot>:<answers>,…" (Lua's
 * slots count from 1; "-" for none). Lines that are not one are skipped.
 */
export function parseGatewayBuckets(text: string): GatewayRecord {
  const lines = text.split("\n");
  const boundsLine = lines.find((l) => l.startsWith("bounds "));
  const boundsMs = (boundsLine?.slice(7).split(",") ?? []).map((x) => Math.round(Number(x) * 1000)).filter((x) => Number.isFinite(x));
  const bucketMs = Number(lines.find((l) => l.startsWith("bucket "))?.slice(7));
  const buckets: GatewayBucket[] = [];
  for (const line of lines) {
    const [t, accepted, ok, regions, slots] = line.trim().split(/\s+/);
    if (slots === undefined || !/^\d+$/.test(t ?? "") || !/^\d+$/.test(accepted ?? "") || !/^\d+$/.test(ok ?? "")) continue;
    const b: GatewayBucket = { t: Number(t), accepted: Number(accepted), ok: Number(ok), regions: {}, answered: new Array<number>(boundsMs.length + 1).fill(0) };
    for (const kv of regions === "-" || regions === undefined ? [] : regions.split(",")) {
      const at = kv.lastIndexOf("=");
      if (at > 0) b.regions[kv.slice(0, at)] = Number(kv.slice(at + 1));
    }
    for (const kv of slots === "-" ? [] : slots.split(",")) {
      const [slot, n] = kv.split(":").map(Number);
      if (slot !== undefined && n !== undefined && slot >= 1 && slot <= b.answered.length) b.answered[slot - 1] = n;
    }
    buckets.push(b);
  }
  // a record whose bucket length is not said cannot be placed in time: none
  if (!Number.isFinite(bucketMs) || bucketMs <= 0) return { bucketMs: 0, boundsMs, buckets: [] };
  return { bucketMs, boundsMs, buckets };
}
