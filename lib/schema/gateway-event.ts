/**
 * One decision of the gateway, from its own log (the stack's control API, `GET /gateway/events`):
 * a server marked DOWN or UP and why, or a backend left with no server.
 */
export interface GatewayEvent {
  t: number;
  kind: "server-down" | "server-up" | "backend-empty";
  backend: string;
  server?: string;
  reason?: string;
}
