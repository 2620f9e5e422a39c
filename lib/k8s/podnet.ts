import { execFileSync } from "node:child_process";
import { FaultlineError, errorMessage } from "../errors.ts";

/**
 * Pod IPs that are this machine's own. The API server refuses loopback addresses in EndpointSlices,
 * so kwok cannot hand out 127.x pod IPs if Services are to have endpoints. Instead each cluster
 * takes a /20 of 198.18.0.0/15 (RFC 2544's benchmarking range, never routed on any network) and
 * makes it local to the loopback device with one `local` route (AnyIP, as 127.0.0.0/8 is): a replica
 * process can listen at any pod IP of the block, and its traffic never leaves `lo`. Adding and
 * removing the route takes root (or sudo without a password).
 */
const BLOCKS = 32;
const blockCidr = (i: number): string => `198.${18 + Math.floor(i / 16)}.${(i % 16) * 16}.0/20`;

function ip(args: string[]): string {
  const asRoot = process.getuid?.() === 0;
  try {
    return execFileSync(asRoot ? "ip" : "sudo", asRoot ? args : ["-n", "ip", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new FaultlineError("E_TOOL", `ip ${args.join(" ")} failed (the pod network's route on lo takes root or sudo without a password): ${stderr.trim() || errorMessage(err)}`);
  }
}

function localRoutes(): string {
  return ip(["route", "show", "table", "local"]);
}

/** Claims a free block: adds `local <block> dev lo`. Returns the block, e.g. 198.18.16.0/20. */
export function claimPodBlock(): string {
  const routes = localRoutes();
  for (let i = 0; i < BLOCKS; i++) {
    const cidr = blockCidr(i);
    if (routes.includes(`local ${cidr} `)) continue;
    ip(["route", "add", "local", cidr, "dev", "lo"]);
    return cidr;
  }
  throw new FaultlineError("E_TOOL", `every pod block of 198.18.0.0/15 is taken (${BLOCKS} local routes on lo): stop clusters with \`faultline k8s down\`, or remove stale ones with \`ip route del local <block> dev lo\``);
}

/** Removes the block's route; nothing when it is gone already. */
export function releasePodBlock(cidr: string): void {
  if (!localRoutes().includes(`local ${cidr} `)) return;
  ip(["route", "del", "local", cidr, "dev", "lo"]);
}

/** kwok's --cidr for a block: its first host address with the prefix (kwok hands out the ones after it). */
export function kwokCidr(block: string): string {
  const [addr, prefix] = block.split("/") as [string, string];
  const parts = addr.split(".").map(Number);
  parts[3] = 1;
  return `${parts.join(".")}/${prefix}`;
}
