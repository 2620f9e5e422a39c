import { expect } from "chai";
import { parseBackend, parseStats } from "../../lib/stack/haproxy-api.ts";
import type { BackendStat, ServerStat } from "../../lib/stack/haproxy-api.ts";
import { serversToEject } from "../../lib/stack/outlier.ts";
import { jammed } from "../../lib/stack/queue-unjam.ts";
import { nextSpillPct } from "../../lib/stack/spillover.ts";

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

  it("reads a backend's own queue and each server's connections against its limit", () => {
    const csv = ["# pxname,svname,status,scur,slim,qcur,bck", "inference,us-east-1,DOWN,256,256,0,0", "inference,eu-west-1,UP,3,256,0,1", "inference,BACKEND,UP,2259,,2000,0", ""].join("\n");
    const b = parseBackend(csv, "inference");
    expect(b.queued).to.equal(2000);
    expect(b.servers.map((x) => [x.name, x.sessions, x.maxconn])).to.deep.equal([
      ["us-east-1", 256, 256],
      ["eu-west-1", 3, 256],
    ]);
  });

  describe("the stuck backend queue (HAProxy 2.6)", () => {
    const srv = (name: string, status: string, sessions: number, backup = false): ServerStat => ({ name, status, total: 0, failed: 0, sessions, maxconn: 256, ...(backup ? { backup } : {}) });
    // us-east and us-west dark and DOWN, eu-west's standby servers idle, 2,000 requests in the backend's queue
    const stuck: BackendStat = { queued: 2000, servers: [srv("us-east-1", "DOWN", 0), srv("us-west-1", "DOWN", 0), srv("eu-west-1", "UP", 0, true), srv("eu-west-2", "UP", 0, true)] };

    it("a queue that stays while the servers taking traffic have free slots is stuck: those servers are handed it", () => {
      expect(jammed(stuck, stuck).map((s) => s.name)).to.deep.equal(["eu-west-1", "eu-west-2"]);
    });

    it("one snapshot, an empty queue, or every server taking traffic full: left alone", () => {
      expect(jammed(undefined, stuck), "one snapshot").to.deep.equal([]);
      expect(jammed(stuck, { ...stuck, queued: 0 }), "the queue drained").to.deep.equal([]);
      const full: BackendStat = { queued: 500, servers: [srv("us-east-1", "UP", 256), srv("us-west-1", "UP", 256), srv("eu-west-1", "UP", 0, true)] };
      expect(jammed(full, full), "saturated regular servers: a real queue, and the standby takes nothing while they are up").to.deep.equal([]);
    });
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

describe("gateway: spill-over to the standby region (pure)", () => {
  const c = { enabled: true, saturation: 1, stepPct: 10, maxPct: 50 };
  /** us-west's three servers with `sessions` each (us-east down), eu-west's three as backups */
  const fleet = (sessions: number, usWest = "UP"): BackendStat => ({
    queued: 0,
    servers: [
      ...["us-east-1", "us-east-2", "us-east-3"].map((name) => ({ name, status: "DOWN", total: 0, failed: 0, sessions: 0 })),
      ...["us-west-1", "us-west-2", "us-west-3"].map((name) => ({ name, status: usWest, total: 0, failed: 0, sessions })),
      ...["eu-west-1", "eu-west-2", "eu-west-3"].map((name) => ({ name, status: "UP", total: 0, failed: 0, sessions: 0, backup: true })),
    ],
  });

  it("grows the standby's share a step at a time while the serving active replicas have every decode slot busy, up to the cap", () => {
    let pct = 0;
    for (let i = 0; i < 8; i++) pct = nextSpillPct(fleet(64), 64, c, pct);
    expect(pct).to.equal(50);
  });

  it("holds it between 80 % and 100 % of saturation, gives it back below, and drops it when no active server is up (the backups take everything then)", () => {
    expect(nextSpillPct(fleet(56), 64, c, 30)).to.equal(30);
    expect(nextSpillPct(fleet(20), 64, c, 30)).to.equal(20);
    expect(nextSpillPct(fleet(20), 64, c, 0)).to.equal(0);
    expect(nextSpillPct(fleet(64, "DOWN"), 64, c, 40)).to.equal(0);
  });
});
