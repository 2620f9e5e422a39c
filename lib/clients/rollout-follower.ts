import { makeInformer } from "@kubernetes/client-node";
import type { Informer, KubernetesObject } from "@kubernetes/client-node";
import { REGION_LABEL, follow } from "./kubernetes.ts";
import type { Kube } from "./kubernetes.ts";

const ARGO = { group: "argoproj.io", version: "v1alpha1", plural: "rollouts" } as const;

/** Where a region's Argo Rollout stands: its stable and canary ReplicaSets (pod-template hashes) and the canary's weight. */
export interface CanarySplit {
  stable: string;
  canary: string;
  /** percent of the region's traffic for the canary's pods */
  weight: number;
}

interface RolloutObject extends KubernetesObject {
  spec?: { strategy?: { canary?: { steps?: { setWeight?: number }[] } } };
  status?: { currentStepIndex?: number; stableRS?: string; currentPodHash?: string; abort?: boolean };
}

/**
 * The canary's weight by Argo's rule: the last setWeight at or before the current step; 100 past
 * the last step; 0 once aborted. (A basic canary publishes no weight in its status: it moves
 * replicas. The gateway, as a mesh does for a Rollout with traffic routing, moves the requests.)
 */
export function splitOf(r: RolloutObject): CanarySplit | undefined {
  const st = r.status;
  if (st?.stableRS === undefined || st.currentPodHash === undefined) return undefined;
  const steps = r.spec?.strategy?.canary?.steps ?? [];
  let weight = 100;
  if (st.abort === true) weight = 0;
  else if (st.currentStepIndex !== undefined && st.currentStepIndex < steps.length) {
    weight = 0;
    for (let i = st.currentStepIndex; i >= 0; i--) {
      const w = steps[i]?.setWeight;
      if (w !== undefined) {
        weight = w;
        break;
      }
    }
  }
  return { stable: st.stableRS, canary: st.currentPodHash, weight };
}

/**
 * Follows the Argo Rollouts of a namespace, as a gateway that routes a canary's share would:
 * `onChange` gets each region's split (by the Rollout's region label) whenever one changes. A
 * cluster without Argo's CRDs has nothing to follow: `start` says so by returning false.
 */
export class RolloutFollower {
  private informer: Informer<RolloutObject> | undefined;
  private stopped = false;
  private readonly splits = new Map<string, CanarySplit>();
  private readonly k: Kube;
  private readonly namespace: string;
  private readonly onChange: (splits: ReadonlyMap<string, CanarySplit>) => void;

  constructor(k: Kube, namespace: string, onChange: (splits: ReadonlyMap<string, CanarySplit>) => void) {
    this.k = k;
    this.namespace = namespace;
    this.onChange = onChange;
  }

  async start(onError: (err: unknown) => void = () => undefined): Promise<boolean> {
    const list = async (): Promise<never> => (await this.k.custom.listNamespacedCustomObject({ ...ARGO, namespace: this.namespace })) as never; // a custom object list has the informer's list shape
    try {
      await list();
    } catch {
      return false;
    }
    const inf = makeInformer<RolloutObject>(this.k.kc, `/apis/${ARGO.group}/${ARGO.version}/namespaces/${this.namespace}/${ARGO.plural}`, list);
    this.informer = follow(
      inf,
      (r, gone) => {
        const region = r.metadata?.labels?.[REGION_LABEL];
        if (region === undefined) return;
        const split = gone ? undefined : splitOf(r);
        const before = this.splits.get(region);
        if (split === undefined) this.splits.delete(region);
        else this.splits.set(region, split);
        if (JSON.stringify(before) !== JSON.stringify(split)) this.onChange(this.splits);
      },
      () => this.stopped,
      onError,
    );
    await inf.start();
    return true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.informer?.stop().catch(() => undefined);
  }
}
