import { opsBackend } from "../types.ts";
import { execRevert } from "./gpu-oom.ts";
import { deleteNetworkChaos } from "./network-partition.ts";
import { untaint } from "./gpu-xid.ts";
import { nodeReady, uncordon } from "./nodes.ts";
import { podDeleted } from "./pod-kill.ts";
import { restoreTemplate } from "./rollout.ts";

/** A Kubernetes cluster through its API server: the undo operations of its fault kinds. */
export const kubernetesBackend = opsBackend("kubernetes", {
  none: podDeleted,
  "node-ready": nodeReady,
  uncordon,
  untaint,
  "delete-networkchaos": deleteNetworkChaos,
  exec: execRevert,
  "restore-template": restoreTemplate,
});
