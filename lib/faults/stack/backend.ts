import { opsBackend } from "../types.ts";
import { thawReplica } from "./freeze.ts";
import { clearGpuPressure } from "./gpu-oom.ts";
import { clearXid } from "./gpu-xid.ts";
import { startReplica } from "./node-loss.ts";
import { abortRollout } from "./rollout.ts";

/** The reference stack (or anything that speaks its control API): the undo operations of its fault kinds. */
export const stackBackend = opsBackend("stack", {
  "start-replica": startReplica,
  "clear-gpu-pressure": clearGpuPressure,
  "abort-rollout": abortRollout,
  "thaw-replica": thawReplica,
  "clear-xid": clearXid,
});
