import { expect } from "chai";
import { parseBackend, parseStats } from "../../lib/stack/haproxy-api.ts";
import type { BackendStat, ServerStat } from "../../lib/stack/haproxy-api.ts";
import { parseServerTimes, serversToEject } from "../../lib/stack/outlier.ts";
import type { Snapshot } from "../../lib/stack/outlier.ts";
import { jammed } from "../../lib/stack/queue-unjam.ts";
import { nextSpillPct } from "../../lib/stack/spillover.ts";

const policy = { failureRatePct: 5, windowMs: 10_000, minRequests: 20, ejectionMs: 30_000, slow: { enabled: false, factor: 3, minMs: 250 } };
const names = (xs: readonly { server: string }[]): string[] => xs.map((x) => x.server);
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
    expect(names(serversToEject(w, policy, new Set()))).to.deep.equal(["a"]);
    expect(names(serversToEject(w, { ...policy, failureRatePct: 100 }, new Set())), "100 % switches it off").to.deep.equal([]);
    expect(names(serversToEject(w, policy, new Set(["a"]))), "already ejected").to.deep.equal([]);
    expect(names(serversToEject(w.slice(0, 1), policy, new Set())), "one snapshot is no window").to.deep.equal([]);
  });

  const failing = (n: string, o?: Row[3]): Row => [n, [0, 0], [100, 50], o];

  it("never ejects more than half the servers taking traffic, counting those already out", () => {
    const w = window([failing("a"), failing("b"), failing("c"), failing("d"), failing("e"), failing("f")]);
    expect(names(serversToEject(w, policy, new Set()))).to.deep.equal(["a", "b", "c"]);
    expect(names(serversToEject(w, policy, new Set(["a"])))).to.deep.equal(["b", "c"]);
    expect(names(serversToEject(window([failing("a")]), policy, new Set())), "one server: never ejected").to.deep.equal([]);
    // servers that are down take no traffic: they neither count nor get ejected
    const half = window([failing("a"), failing("b"), failing("c", { status: "DOWN" }), failing("d", { status: "MAINT" })]);
    expect(names(serversToEject(half, policy, new Set()))).to.deep.equal(["a"]);
  });

  it("two regions dark, the standby carrying everything: at most half of the standby's servers are ejected, never all", () => {
    // us-east and us-west partitioned (DOWN); eu-west's three backups overloaded, failing half their requests
    const w = window([
      ...["e1", "e2", "e3", "w1", "w2", "w3"].map((n) => failing(n, { status: "DOWN" })),
      ...["eu1", "eu2", "eu3"].map((n) => failing(n, { backup: true })),
    ]);
    expect(names(serversToEject(w, policy, new Set()))).to.deep.equal(["eu1"]);
    expect(names(serversToEject(w, policy, new Set(["eu1"])))).to.deep.equal([]);
    // while regular servers are up, backups take no traffic and are left alone
    const calm = window([failing("e1"), ["e2", [0, 0], [100, 0]], failing("eu1", { backup: true }), failing("eu2", { backup: true })]);
    expect(names(serversToEject(calm, policy, new Set()))).to.deep.equal(["e1"]);
  });
});

describe("gateway: slow-replica ejection (pure)", () => {
  const slowPolicy = { ...policy, failureRatePct: 100, slow: { enabled: true, factor: 3, minMs: 250 } };
  /** 10 s apart, no failures; each server's responses in the window and their mean time (ms) */
  const timed = (rows: [string, number, number][]): Snapshot[] => {
    const at = (t: number, k: 0 | 1): Snapshot => ({
      t,
      stats: rows.map(([n, count]) => stat(n, k * count, 0)),
      times: new Map(rows.map(([n, count, meanMs]) => [n, { count: 5 + k * count, sum: 1 + (k * count * meanMs) / 1000 }])),
    });
    return [at(0, 0), at(10_000, 1)];
  };

  it("parses the gateway's `fl servers` lines and skips what is not one", () => {
    const m = parseServerTimes("us-east-1 120 4.500000\nus-west-2 7 0.035000\nUnknown command: fl\n\n");
    expect([...m]).to.deep.equal([
      ["us-east-1", { count: 120, sum: 4.5 }],
      ["us-west-2", { count: 7, sum: 0.035 }],
    ]);
  });

  it("ejects a replica slow among its region's servers, and says by how much", () => {
    const w = timed([["us-east-1", 400, 812], ["us-east-2", 400, 41], ["us-east-3", 400, 45], ["us-west-1", 200, 40]]);
    const out = serversToEject(w, slowPolicy, new Set());
    expect(names(out)).to.deep.equal(["us-east-1"]);
    expect(out[0]?.reason).to.match(/^slow: mean response 812 ms over 10\.0 s, 18\.9× the median of us-east's other servers \(43 ms/);
  });

  it("leaves alone: a region slowed as a whole, a gap under minMs, too few responses, slow ejection off", () => {
    const region = timed([["us-east-1", 400, 640], ["us-east-2", 400, 650], ["us-east-3", 400, 630], ["us-west-1", 200, 40], ["us-west-2", 200, 42]]);
    expect(names(serversToEject(region, slowPolicy, new Set())), "every us-east server equally slow: no outlier among its peers").to.deep.equal([]);
    const small = timed([["a-1", 400, 200], ["a-2", 400, 20], ["a-3", 400, 25]]);
    expect(names(serversToEject(small, slowPolicy, new Set())), "10× but 200 ms, under minMs").to.deep.equal([]);
    const few = timed([["a-1", 10, 900], ["a-2", 400, 20], ["a-3", 400, 25]]);
    expect(names(serversToEject(few, slowPolicy, new Set())), "10 responses say nothing").to.deep.equal([]);
    const off = timed([["a-1", 400, 900], ["a-2", 400, 20], ["a-3", 400, 25]]);
    expect(names(serversToEject(off, { ...slowPolicy, slow: { ...slowPolicy.slow, enabled: false } }, new Set())), "off").to.deep.equal([]);
    expect(names(serversToEject(off, slowPolicy, new Set())), "and on, the same servers: ejected").to.deep.equal(["a-1"]);
    const alone = timed([["a-1", 400, 900], ["b-1", 400, 20], ["b-2", 400, 25]]);
    expect(names(serversToEject(alone, slowPolicy, new Set())), "a region of one has no peers to be slow against").to.deep.equal([]);
  });

  it("a slow server ejected before is measured only on what it answered since it came back", () => {
    // its first snapshot in the window already holds its slow past: only the window's own responses count
    const back: Snapshot[] = [
      { t: 0, stats: [stat("a-1", 1000, 0), stat("a-2", 1000, 0), stat("a-3", 1000, 0)], times: new Map([["a-1", { count: 1000, sum: 800 }], ["a-2", { count: 1000, sum: 40 }], ["a-3", { count: 1000, sum: 40 }]]) },
      { t: 2000, stats: [stat("a-1", 1100, 0), stat("a-2", 1100, 0), stat("a-3", 1100, 0)], times: new Map([["a-1", { count: 1100, sum: 804 }], ["a-2", { count: 1100, sum: 44 }], ["a-3", { count: 1100, sum: 44 }]]) },
    ];
    expect(names(serversToEject(back, slowPolicy, new Set()))).to.deep.equal([]);
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
