import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import type { GatewayEvent } from "../schema/gateway-event.ts";

const LINE = /^<\d+>1 (\S+) \S+ haproxy \d+ \S+ \S+ (.*)$/;
const SERVER = /^(?:Server|Backup Server) ([^/\s]+)\/(\S+) is (UP|DOWN)(?:, reason: ([^,]+))?/;
const EMPTY = /^backend (\S+) has no server available!/;

/**
 * The gateway's own record of what it decided, from HAProxy's log (the stack's HAProxy logs its
 * notices to stderr in RFC 5424 form, with microsecond timestamps; requests are not logged):
 * every event in the text, in order; lines that are not events are skipped.
 */
export function parseGatewayLog(text: string): GatewayEvent[] {
  const out: GatewayEvent[] = [];
  for (const line of text.split("\n")) {
    const m = LINE.exec(line);
    if (m === null) continue;
    const t = Date.parse(m[1] as string);
    const msg = m[2] as string;
    const s = SERVER.exec(msg);
    if (s !== null && Number.isFinite(t)) {
      out.push({ t, kind: s[3] === "UP" ? "server-up" : "server-down", backend: s[1] as string, server: s[2] as string, ...(s[4] ? { reason: s[4] } : {}) });
      continue;
    }
    const e = EMPTY.exec(msg);
    if (e !== null && Number.isFinite(t)) out.push({ t, kind: "backend-empty", backend: e[1] as string });
  }
  return out;
}

const TAIL_BYTES = 1 << 20;

/** The events of the log file since `since` (epoch ms), from its last MiB; none when there is no file yet. */
export function readGatewayEvents(file: string, since = 0): GatewayEvent[] {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    readSync(fd, buf, 0, buf.length, start);
    return parseGatewayLog(buf.toString("utf8")).filter((e) => e.t >= since);
  } finally {
    closeSync(fd);
  }
}
