/**
 * For each shipped experiment, a stack misconfigured for it, the one assertion that must catch it,
 * and the time scale the both-ways test runs it at (its healthy run too). test/integration/experiments.test.ts proves each case once (and measures from the raw data
 * that the stack really misbehaved); bench/verdicts.ts repeats them to count.
 */
export const MISCONFIGURED: Record<string, { catches: string; alsoCatches?: string[]; mayAlsoCatch?: string[]; why: string; args: string[]; timeScale: string }> = {
  "region-partition": {
    catches: "us-east-failover-under-30s",
    // RegionDown reads the gateway's view: 15 s health checks (3 to fall) do not see the region
    // down within the alert's 30 s either (the outage lasts 35 s: the whole limit is watched)
    alsoCatches: ["us-east-down-alert"],
    // and the 70/30 split after the heal when the third failed 15 s check happens to land inside the 35 s
    // outage (the checks' phase decides): us-east then needs two passing checks, 30 s, to rise again, past the
    // 15 s recovery (measured in CI: back-to-70-30 failing beside the two)
    mayAlsoCatch: ["back-to-70-30"],
    why: "detection slowed, circuit breaking off",
    // full length: a 15 s health check needs the whole fault to show that failover never completes
    timeScale: "1",
    args: ["--rate-scale", "0.25", "--stack-set", "gateway.healthCheck.intervalMs=15000", "--stack-set", "gateway.outlier.failureRatePct=100", "--stack-set", "gateway.circuitBreaker.consecutiveFailures=1000000", "--stack-set", "gateway.circuitBreaker.maxConnections=100000"],
  },
  // full length: a takeover that never settles is a fail only when the fault outlasts its 30 s limit and the 5 s sustain window
  "standby-takeover": { catches: "standby-serves-within-30s", mayAlsoCatch: ["steady-state-after-recovery", "back-to-70-30"], why: "the gateway's stuck-queue unjam off (HAProxy 2.6 as shipped)", timeScale: "1", args: ["--stack-set", "gateway.unjamQueue=false"] },
  "cross-region-latency": { catches: "fires-above-slo", why: "HighP99Latency at 5000 ms", timeScale: "0.75", args: ["--stack-set", "alerts.p99LatencyMs=5000"] },
  "node-loss": {
    catches: "slo-holds",
    why: "no retries, slow detection, no circuit breaking",
    timeScale: "0.5",
    args: ["--stack-set", "gateway.retries=0", "--stack-set", "gateway.healthCheck.intervalMs=15000", "--stack-set", "gateway.outlier.failureRatePct=100", "--stack-set", "gateway.circuitBreaker.consecutiveFailures=1000000"],
  },
  "hung-replica": {
    catches: "available-through-the-hang",
    why: "the gateway's per-try timeout at 10 s, past the clients' 5 s",
    timeScale: "0.5",
    args: ["--stack-set", "gateway.timeoutMs=10000"],
  },
  "slow-replica": {
    catches: "ejected-within-5s",
    why: "slow-replica ejection off: only failing replicas are ejected, and this one fails nothing",
    // full length: a 12 s fault, and failover must settle within 5 s and hold 5 s
    timeScale: "1",
    args: ["--stack-set", "gateway.outlier.slow.enabled=false"],
  },
  "retry-storm": {
    catches: "retries-within-budget",
    // either alone bounds this storm at 1,000 req/s (×1.2 with the budget; ×1.54 with the connection limit alone, since full us-east servers are skipped)
    why: "the retry budget off, and no per-replica connection limit, so the slow region takes every try",
    // and the steady state after the heal when the host is slower: the unbounded storm's backlog then outlasts
    // the 7.5 s recovery (CI on 2026-12-03 at e76505b failed it beside retries-within-budget in both tries;
    // alone here 4 of 4 failed retries-within-budget only). The amplification is checked from the raw series either way.
    mayAlsoCatch: ["steady-state-after-recovery"],
    timeScale: "0.5",
    // at 30 % of the shipped 1,000 req/s: an unbounded storm at the full rate needs ~3,000 tries/s, more than
    // 2 cores carry beside the generator and the session tier (measured: busy 2.0 of 2 cores, ×1.39 reached in
    // the fault, the backlog spilling into recovery as 100 % failures); at 600 req/s ×2.04 reached, recovery clean,
    // on a host at its best — and ×1.27 on a slower day of it, the generator's loop held 5.7 s (2026-12-03)
    args: ["--rate-scale", "0.3", "--stack-set", "gateway.retryBudget.enabled=false", "--stack-set", "gateway.circuitBreaker.maxConnections=100000"],
  },
  // full length: a failover that never settles is a fail only when the fault outlasts its 30 s limit and the 5 s sustain window
  "capacity-cascade": { catches: "us-west-unharmed", alsoCatches: ["slo-kept-after-failover"], why: "spill-over to the standby region off: us-west sheds what it cannot decode", timeScale: "1", args: ["--stack-set", "gateway.spillover.enabled=false"] },
  "traffic-surge": {
    catches: "p99-while-surging",
    why: "load shedding off: the replicas' queues grow without bound",
    timeScale: "0.75",
    // the warm-up and a 22.5 s baseline (30 s × 0.75) hold a 15 s TrafficAnomaly window and the 10 s rate window before it
    args: ["--stack-set", "alerts.trafficAnomalyWindowSeconds=15", "--stack-set", "replica.shedding=false"],
  },
  "gpu-oom": { catches: "early-warning-us-east-1", why: "GPUMemoryHigh past 100 %", timeScale: "0.75", args: ["--stack-set", "alerts.gpuMemoryPct=101"] },
  "bad-rollout": { catches: "rolled-back", why: "automatic rollback off", timeScale: "0.5", args: ["--stack-set", "rollout.autoRollback=false"] },
  "healthy-rollout": { catches: "no-alerts", why: "HighP99Latency below the model's own latency", timeScale: "0.5", args: ["--stack-set", "alerts.p99LatencyMs=30"] },
  "session-failover": {
    catches: "us-east-no-acknowledged-turn-lost",
    why: "a turn acknowledged on the primary's word alone (no WAIT for a replica): the replication delay is lost with the region",
    timeScale: "0.5",
    // at three quarters of the rate, as the healthy run: at 2,000 req/s this host has no core to spare for the recovery
    // (CI on 2026-12-03 failed steady-state-after-recovery beside the rpo check); hundreds of turns are lost at any rate
    args: ["--rate-scale", "0.75", "--stack-set", "session.waitReplicas=0"],
  },
  // full length: the cache fills at the rate long requests live, which a time scale does not shorten (KVCacheUsageHigh 13-14 s into the 30 s ramp, the shedding 2-3 s later)
  "kv-pressure": { catches: "kv-warned-rag", why: "KVCacheUsageHigh at 100 %: `> 100` is never true, so a KV cache filled to the brim warns nobody", timeScale: "1", args: ["--stack-set", "alerts.kvCacheUsagePct=100"] },
  // the page routed to the team's chat: critical alerts no longer reach the pager (Alertmanager's route, not the rule, is wrong)
  "gpu-xid": { catches: "xid-paged-us-east-1", why: "the pager route matches severity \"page\", which no rule sets: GPUXidError (critical) falls through to chat", timeScale: "0.75", args: ["--stack-set", "alerting.pagerSeverity=page"] },
  // full length: SessionReplicationLag waits 10 s once the lag passes 1 s, and the fault is 20 s
  // at three quarters of the rate, as its healthy test (test/integration/sessions.test.ts says why)
  "replication-lag": { catches: "us-east-replication-lag-alert", why: "SessionReplicationLag at 30 s, past any lag this fault makes", timeScale: "1", args: ["--rate-scale", "0.75", "--stack-set", "alerts.replicationLagSeconds=30"] },
};

/** The assertions a misconfigured run of `experiment` must fail, and no other. */
export function caughtBy(experiment: string): string[] {
  const m = MISCONFIGURED[experiment];
  return m === undefined ? [] : [m.catches, ...(m.alsoCatches ?? [])].sort();
}

/** The assertions a misconfigured run failed, less those it may fail as a consequence of timing (`mayAlsoCatch`). */
export function failedBesidesMaybe(experiment: string, failed: readonly string[]): string[] {
  const maybe = MISCONFIGURED[experiment]?.mayAlsoCatch ?? [];
  return failed.filter((f) => !maybe.includes(f)).sort();
}

/** What a healthy run of an experiment needs besides the time scale (the rollout's analysis fits a scaled run). */
export const HEALTHY_ARGS: Record<string, string[]> = {
  "healthy-rollout": ["--stack-set", "rollout.analysisIntervalSeconds=5"],
  "traffic-surge": ["--stack-set", "alerts.trafficAnomalyWindowSeconds=15"],
};
