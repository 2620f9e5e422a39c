import { expect } from "chai";
import { parseGatewayLog } from "../../lib/stack/gateway-log.ts";

describe("gateway: HAProxy's own record, from its log (pure)", () => {
  it("reads servers marked DOWN and UP with their reasons, and an emptied backend, at HAProxy's microsecond timestamps; skips the rest", () => {
    const log = [
      `[WARNING]  (28553) : Server inference/us-east-1 is DOWN, reason: Layer7 timeout, check duration: 502ms. 5 active and 3 backup servers left.`,
      `<129>1 2026-12-01T06:19:21.087208+00:00 - haproxy 527 - - Server inference/us-east-1 is DOWN, reason: Layer7 timeout, check duration: 502ms. 5 active and 3 backup servers left. 256 sessions active, 0 requeued, 0 remaining in queue.`,
      `<128>1 2026-12-01T06:19:22.5+00:00 - haproxy 527 - - backend inference has no server available!`,
      `<133>1 2026-12-01T06:19:30.000900+00:00 - haproxy 527 - - Backup Server inference/eu-west-2 is UP, reason: Layer7 check passed, code: 200, check duration: 1ms.`,
      `<133>1 2026-12-01T06:19:31.000000+00:00 - haproxy 527 - - Proxy gateway started.`,
      `<129>1 not-a-time - haproxy 527 - - Server inference/x is DOWN`,
      "",
    ].join("\n");
    expect(parseGatewayLog(log)).to.deep.equal([
      { t: Date.UTC(2026, 11, 1, 6, 19, 21, 87), kind: "server-down", backend: "inference", server: "us-east-1", reason: "Layer7 timeout" },
      { t: Date.UTC(2026, 11, 1, 6, 19, 22, 500), kind: "backend-empty", backend: "inference" },
      { t: Date.UTC(2026, 11, 1, 6, 19, 30, 0), kind: "server-up", backend: "inference", server: "eu-west-2", reason: "Layer7 check passed" },
    ]);
  });
});
