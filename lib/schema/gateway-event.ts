/**
 * One decision of the gateway (the stack's control API, `GET /gateway/events`): from HAProxy's own
 * log, a server marked DOWN or UP and why, or a backend left with no server; from the supervisor's
 * outlier pass, a server ejected (weight 0) and why, or returned to its weight; from the session
 * store, a new primary named by the Sentinels (`server` the node, `reason` the one before).
 */
export interface GatewayEvent {
  t: number;
  kind: "server-down" | "server-up" | "backend-empty" | "server-ejected" | "server-returned" | "session-primary";
  backend: string;
  server?: string;
  reason?: string;
}
