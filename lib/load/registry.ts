import { kube } from "../clients/kubernetes.ts";
import { FaultlineError } from "../errors.ts";
import type { LoadEngineName, LoadProfile } from "../schema/experiment.ts";
import { allowedNamespace } from "../schema/target.ts";
import type { Target } from "../schema/target.ts";
import { BuiltinLoadEngine } from "./builtin.ts";
import { K6OperatorLoadEngine } from "./k6-operator.ts";
import { K6LoadEngine } from "./k6.ts";
import type { LoadEngine } from "./types.ts";

/** What an engine may need besides the resolved load: the distributed one runs in the target's cluster. */
export interface EngineContext {
  target?: Target;
  profile?: LoadProfile;
  /** the engine's own stages (the k6-operator's TestRun: initialization … finished), for the timeline */
  onStage?(stage: string, message: string): void;
}

/** Load engines by the name a profile gives (`load.engine`): every name the schema allows has one. */
const ENGINES: { [E in LoadEngineName]: (c: EngineContext) => LoadEngine } = {
  builtin: () => new BuiltinLoadEngine(),
  k6: () => new K6LoadEngine(),
  "k6-operator": ({ target, profile, onStage }) => {
    const d = profile?.distributed;
    if (d === undefined) throw new FaultlineError("E_INVALID_INPUT", "engine k6-operator needs load.distributed");
    const k8s = target?.kubernetes;
    if (k8s === undefined) throw new FaultlineError("E_TARGET", `engine k6-operator runs in a cluster: target ${target?.metadata.name ?? "(none)"} has no kubernetes section`);
    const namespace = allowedNamespace(k8s, d.namespace, "load.distributed");
    return new K6OperatorLoadEngine({ kube: kube(k8s.kubeconfig, k8s.context), namespace, parallelism: d.parallelism, prometheus: d.prometheus, ...(d.remoteWrite ? { remoteWrite: d.remoteWrite } : {}), ...(d.runnerImage ? { runnerImage: d.runnerImage } : {}), ...(onStage ? { onStage } : {}) });
  },
};

export function loadEngine(name: LoadEngineName, c: EngineContext = {}): LoadEngine {
  const make = Object.hasOwn(ENGINES, name) ? ENGINES[name] : undefined;
  if (make === undefined) throw new FaultlineError("E_INVALID_INPUT", `unknown load engine "${name}" (known: ${Object.keys(ENGINES).join(", ")})`);
  return make(c);
}
