import type { Command } from "commander";
import { ExitCode, FaultlineError } from "../errors.ts";
import { kube } from "../clients/kubernetes.ts";
import { DEFAULT_CLUSTER_DIR, clusterDown, clusterRunning, clusterUp, readClusterState, writeClusterTarget } from "../k8s/cluster.ts";
import { DEFAULT_FLEET, applyFleet } from "../k8s/fleet.ts";

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

export function addK8sCommands(program: Command, setExit: (code: number) => void): void {
  const k8s = program.command("k8s").description("a local Kubernetes control plane (etcd, kube-apiserver, controller-manager, scheduler) with kwok's simulated GPU nodes");

  k8s
    .command("up")
    .description("start the control plane and kwok in the background and create the simulated GPU fleet")
    .option("--dir <dir>", "state folder (kubeconfig, logs/)", DEFAULT_CLUSTER_DIR)
    .option("--nodes-per-zone <n>", "GPU nodes in each of the 9 zones", (v) => Number(v), 1)
    .option("--no-fleet", "only the control plane: no nodes, no inference Deployments")
    .option("--workload <kind>", "each region's inference workload: deployment, or rollout (Argo Rollouts canary with analysis)", "deployment")
    .action(async (flags: { dir: string; nodesPerZone: number; fleet: boolean; workload: string }) => {
      if (flags.workload !== "deployment" && flags.workload !== "rollout") throw new FaultlineError("E_INVALID_INPUT", `--workload ${flags.workload}: expected deployment or rollout`);
      const workload: "deployment" | "rollout" = flags.workload;
      const t0 = Date.now();
      const progress = (l: string): void => void process.stderr.write(`k8s: ${l}\n`);
      const state = await clusterUp({ dir: flags.dir, onProgress: progress });
      progress(`API server ${state.server} ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      if (flags.fleet) {
        const spec = { ...DEFAULT_FLEET, workload, regions: DEFAULT_FLEET.regions.map((r) => ({ ...r, nodesPerZone: flags.nodesPerZone })) };
        await applyFleet(kube(state.kubeconfig as string), spec, { onProgress: progress });
      }
      const target = writeClusterTarget(flags.dir, [DEFAULT_FLEET.namespace]);
      print(`kubeconfig ${state.kubeconfig}\nserver     ${state.server}\ntarget     ${target} (--target kubernetes)\nready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
      setExit(ExitCode.pass);
    });

  k8s
    .command("status")
    .description("whether the control plane runs, and where its kubeconfig is")
    .option("--dir <dir>", "state folder", DEFAULT_CLUSTER_DIR)
    .action((flags: { dir: string }) => {
      const s = readClusterState(flags.dir);
      const running = clusterRunning(flags.dir);
      print(running && s ? `running: ${s.server}\nkubeconfig ${s.kubeconfig}\nlogs ${s.logs}` : `no cluster running in ${flags.dir}`);
      setExit(running ? ExitCode.pass : ExitCode.fail);
    });

  k8s
    .command("down")
    .description("stop every process of the control plane and delete its data")
    .option("--dir <dir>", "state folder", DEFAULT_CLUSTER_DIR)
    .action(async (flags: { dir: string }) => {
      const { stopped } = await clusterDown({ dir: flags.dir });
      print(stopped > 0 ? `stopped ${stopped} processes` : `no cluster was running in ${flags.dir}`);
      setExit(ExitCode.pass);
    });
}
