import { createServer } from "node:net";
import type { AddressInfo, Server } from "node:net";

/**
 * Reserves `n` distinct free loopback ports by holding them all open at once, then releases them.
 * Two stacks (or a stack and the test suite) started together get different ports.
 */
export async function reservePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const s = createServer();
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(0, "127.0.0.1", () => resolve());
      });
      servers.push(s);
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
