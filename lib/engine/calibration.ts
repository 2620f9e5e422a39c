import type { Experiment } from "../schema/experiment.ts";

type Assertion = Experiment["assertions"][number];

/**
 * The checks that must stay quiet when nothing is injected: SLOs, thresholds, probes, capacity,
 * amplification, goodput, no unexpected alerts, alerts that must not fire. A failure of one of these with no fault is a false
 * alarm. The rest (failover, an alert that must fire, rollback, promotion, a traffic shift,
 * rescheduling) need their fault to mean anything.
 */
export function quietWithoutFault(a: Assertion): boolean {
  switch (a.kind) {
    case "slo":
    case "threshold":
    case "probe":
    case "capacity":
    case "amplification":
    case "goodput":
    case "no-unexpected-alerts":
      return true;
    case "alert":
      return !a.fires;
    default:
      return false;
  }
}

/** The experiment as calibrated: same load, phases, steady state and abort conditions; only its quiet checks. */
export function calibrationOf(exp: Experiment): Experiment {
  return { ...exp, assertions: exp.assertions.filter(quietWithoutFault) };
}
