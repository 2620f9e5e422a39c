import { expect } from "chai";
import { parseStats } from "../../lib/stack/haproxy-api.ts";
import type { ServerStat } from "../../lib/stack/haproxy-api.ts";
import { serversToEject } from "../../lib/stack/outlier.ts";

const policy = { failureRatePct: 5, windowMs: 10_000, minRequests: 20, ejectionMs: 30_000 };
const stat = (name: string, total: number, failed: number, status = "UP"): ServerStat => ({ name, status, total, failed });
/** Snapshots 10 s apart: each server's counters at the start of the window and now. */
const window = (rows: [string, [number, number], [number, number]][]): { t: number; stats: ServerStat[] }[] => [
  { t: 0, stats: rows.map(([n, [t, f]]) => stat(n, t, f)) },
  { t: 10_000, stats: rows.map(([n, , [t, f]]) => stat(n, t, f)) },
];

describe("gateway: HAProxy stats and passive outlier ejection (pure)", () => {
  it("parses `show stat` by its header, for one backend's servers only, counting connection and response errors as failures", () => {
    const csv = [
      "# svname,pxname,status,hrsp_2xx,hrsp_5xx,econ,eresp,hrsp_4xx",
      "FRONTEND,gateway,OPEN,100,0,0,0,0",
      "us-east-1,inference,UP,90,5,3,2,4",
      "us-west-1,inference,DOWN 1/2,10,0,0,0,0",
      "BACKEND,inference,UP,100,5,3,2,4",
      "other,stats,UP,1,1,1,1,1",
      "",
    ].join("\n");
    expect(parseStats(csv, "inference")).to.deep.equal([
      { name: "us-east-1", status: "UP", total: 90 + 5 + 4 + 3, failed: 5 + 3 + 2 },
      { name: "us-west-1", status: "DOWN", total: 10, failed: 0 },
    ]);
  });

  it("ejects a server failing more than the limit over the window, and only then", () => {
    const w = window([
      ["a", [100, 0], [200, 20]], // 20 % of the window's 100
      ["b", [100, 0], [200, 5]], // 5 %: not more than the limit
      ["c", [100, 0], [110, 10]], // 100 % but only 10 requests: too few to say
      ["d", [100, 0], [200, 0]],
    ]);
    expect(serversToEject(w, policy, new Set(), 4)).to.deep.equal(["a"]);
    expect(serversToEject(w, { ...policy, failureRatePct: 100 }, new Set(), 4), "100 % switches it off").to.deep.equal([]);
    expect(serversToEject(w, policy, new Set(["a"]), 4), "already ejected").to.deep.equal([]);
    expect(serversToEject(w.slice(0, 1), policy, new Set(), 4), "one snapshot is no window").to.deep.equal([]);
  });

  it("never ejects more than half the active servers, counting those already out", () => {
    const failing = (n: string): [string, [number, number], [number, number]] => [n, [0, 0], [100, 50]];
    const w = window([failing("a"), failing("b"), failing("c"), failing("d"), failing("e"), failing("f")]);
    expect(serversToEject(w, policy, new Set(), 6)).to.deep.equal(["a", "b", "c"]);
    expect(serversToEject(w, policy, new Set(["x"]), 6)).to.deep.equal(["a", "b"]);
    expect(serversToEject(w, policy, new Set(), 1), "one server: never ejected").to.deep.equal([]);
  });
});
