// The rooms of lib/ and which rooms each may import from: dependencies point one way, down.
// eslint.config.js turns this into no-restricted-imports rules; lib/README.md draws it.
// Plain JavaScript, so the lint configuration can read it.
export const LAYERS = {
  schema: [],
  loader: ["schema"],
  proc: [],
  clients: ["schema", "proc"],
  judge: ["schema"],
  report: ["judge", "loader", "schema"],
  faults: ["clients", "proc", "schema"],
  load: ["clients", "proc", "schema"],
  observe: ["clients", "judge", "proc", "schema"],
  stack: ["clients", "proc", "loader", "schema"],
  k8s: ["stack", "clients", "proc", "loader", "schema"],
  targets: ["stack", "k8s", "faults", "clients", "proc", "loader", "schema"],
  engine: ["targets", "faults", "load", "observe", "judge", "report", "clients", "proc", "loader", "schema"],
  gate: ["engine", "judge", "report", "loader", "schema"],
  gameday: ["engine", "targets", "report", "loader", "schema"],
  cli: ["gameday", "gate", "engine", "targets", "k8s", "stack", "faults", "load", "observe", "judge", "report", "clients", "proc", "loader", "schema"],
};
