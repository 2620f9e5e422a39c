import { expect } from "chai";
import { parseStats } from "../../lib/stack/haproxy-api.ts";
import type { ServerStat } from "../../lib/stack/haproxy-api.ts";
import { serversToEject } from "../../lib/stack/outlier.ts";

const policy = { failureRatePct: 5, windowMs: 10_000, minRequests: 20, ejectionMs: 30_000 };
const stat = (name: string, total: number, failed: number, status = "UP", backup = false): ServerStat => ({ name, status, total, failed, ...(backup ? { backup } : {}) });
type Row = [string, [number, number], [number, number], { status?: string; backup?: boolean }?];
/** Snapshots 10 s apart: each server's counters at the start of the window and now. */
const window = (rows: Row[]): { t: number; stats: ServerStat[] }[] => [
  { t: 0, stats: rows.map(([n, [t, f], , o]) => stat(n, t, f, o?.status, o?.backup)) },
  { t: 10_000, stats: rows.map(([n, , [t, f], o]) => stat(n, t, f, o?.status, o?.backup)) },
];

describe("gateway: HAProxy stats and passive outlier ejection (pure)", () => {
  it("parses `show stat` by its header, for one backend's servers only, counting connection and response errors as failures", () => {
    const csv = [
      "# svname,pxname,status,hrsp_2xx,hrsp_5xx,econ,eresp,hrsp_4xx,bck",
      "FRONTEND,gateway,OPEN,100,0,0,0,0,",
      "us-east-1,inference,UP,90,5,3,2,4,0",
      "us-west-1,inference,DOWN 1/2,10,0,0,0,0,0",
      "eu-west-1,inference,UP,0,0,0,0,0,1",
      "BACKEND,inference,UP,100,5,3,2,4,0",
      "other,stats,UP,1,1,1,1,1,0",
      "",
    ].join("\n");
    expect(parseStats(csv, "inference")).to.deep.equal([
      { name: "us-east-1", status: "UP", total: 90 + 5 + 4 + 3, failed: 5 + 3 + 2 },
      { name: "us-west-1", status: "DOWN", total: 10, failed: 0 },
      { name: "eu-west-1", status: "UP", total: 0, failed: 0, backup: true },
    ]);
  });

  it("ejects a server failing more than the limit over the window, and only then", () => {
    const w = window([
      ["a", [100, 0], [200, 20]], // 20 % of the window's 100
      ["b", [100, 0], [200, 5]], // 5 %: not more than the limit
      ["c", [100, 0], [110, 10]], // 100 % but only 10 requests: too few to say
      ["d", [100, 0], [200, 0]],
    ]);
    expect(serversToEject(w, policy, new Set())).to.deep.equal(["a"]);
    expect(serversToEject(w, { ...policy, failureRatePct: 100 }, new Set()), "100 % switches it off").to.deep.equal([]);
    expect(serversToEject(w, policy, new Set(["a"])), "already ejected").to.deep.equal([]);
    expect(serversToEject(w.slice(0, 1), policy, new Set()), "one snapshot is no window").to.deep.equal([]);
  });

  const failing = (n: string, o?: Row[3]): Row => [n, [0, 0], [100, 50], o];

  it("never ejects more than half the servers taking traffic, counting those already out", () => {
    const w = window([failing("a"), failing("b"), failing("c"), failing("d"), failing("e"), failing("f")]);
    expect(serversToEject(w, policy, new Set())).to.deep.equal(["a", "b", "c"]);
    expect(serversToEject(w, policy, new Set(["a"]))).to.deep.equal(["b", "c"]);
    expect(serversToEject(window([failing("a")]), policy, new Set()), "one server: never ejected").to.deep.equal([]);
    // servers that are down take no traffic: they neither count nor get ejected
    const half = window([failing("a"), failing("b"), failing("c", { status: "DOWN" }), failing("d", { status: "MAINT" })]);
    expect(serversToEject(half, policy, new Set())).to.deep.equal(["a"]);
  });

  it("two regions dark, the standby carrying everything: at most half of the standby's servers are ejected, never all", () => {
    // us-east and us-west partitioned (DOWN); eu-west's three backups overloaded, failing half their requests
    const w = window([
      ...["e1", "e2", "e3", "w1", "w2", "w3"].map((n) => failing(n, { status: "DOWN" })),
      ...["eu1", "eu2", "eu3"].map((n) => failing(n, { backup: true })),
    ]);
    expect(serversToEject(w, policy, new Set())).to.deep.equal(["eu1"]);
    expect(serversToEject(w, policy, new Set(["eu1"]))).to.deep.equal([]);
    // while regular servers are up, backups take no traffic and are left alone
    const calm = window([failing("e1"), ["e2", [0, 0], [100, 0]], failing("eu1", { backup: true }), failing("eu2", { backup: true })]);
    expect(serversToEject(calm, policy, new Set())).to.deep.equal(["e1"]);
  });
});
