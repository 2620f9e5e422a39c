import { execIn } from "../../clients/kubernetes.ts";
import { FaultlineError } from "../../errors.ts";
import type { Action, FaultImpl } from "../types.ts";
import { execTargets } from "./api.ts";
import { fill } from "./gpu-oom.ts";
import type { ExecRevert } from "./gpu-oom.ts";

/** The simulated replica's port in its pod (lib/k8s/bridge.ts; gpu-oom's admin calls use it too). */
const POD_PORT = 8000;

/**
 * The simulated replica's server process, found by the address it listens on (its pod IP, port
 * 8000) rather than by a pid taken at injection: the journal holds the revert before the freeze is
 * made, and a recovery after a crash finds the process the same way.
 */
const SERVER_PID = `ss -Hltnp src \${podIP}:${POD_PORT} | sed -n 's/.*pid=\\([0-9]*\\).*/\\1/p' | head -n 1`;
const signal = (sig: "STOP" | "CONT"): string[] => ["sh", "-c", `p=$(${SERVER_PID}); [ -n "$p" ] || { echo "nothing listens on \${podIP}:${POD_PORT}" >&2; exit 3; }; kill -${sig} "$p"`];
/** exit 0 while the process is stopped (state T in /proc) */
const STOPPED = ["sh", "-c", `p=$(${SERVER_PID}); [ -n "$p" ] && grep -q '^State:[[:space:]]*T' /proc/$p/status`];
/**
 * From inside the pod: connects, and no answer within a second (curl's exit 28; 7 is a refused
 * connection). The exit is printed: not every exec carries a failed command's code in its status.
 */
const PROBE = ["sh", "-c", `curl -sS -o /dev/null --max-time 1 http://\${podIP}:${POD_PORT}/healthz; echo "curl-exit=$?"`];

/**
 * A hung GPU on a cluster: each chosen pod's server process stopped (SIGSTOP) by exec through the
 * API server, so the pod stays Running and its socket accepts connections while nothing answers;
 * SIGCONT on revert. The default finds the simulated replica's process by its address (on the
 * local control plane kwok's ClusterExec runs the command on this machine); `command` and
 * `revertCommand` freeze something else (a vLLM engine core behind its API server). The freeze is
 * proved from inside the pod: a connection is accepted and nothing answers within a second.
 */
export const freeze: FaultImpl<"freeze"> = {
  plan: async (f, ctx) => {
    const { k, ref, namespace, chosen } = await execTargets(f, ctx);
    const custom = f.params.command !== undefined;
    return {
      targets: chosen.map((c) => `${namespace}/${c.name}`),
      actions: chosen.map((c): Action<ExecRevert> => {
        const vars = { pod: c.name, podIP: c.ip ?? "", namespace };
        const container = f.params.container ?? c.container ?? "";
        const command = fill(f.params.command ?? signal("STOP"), vars);
        const exec = async (cmd: string[]): Promise<{ code: number | undefined; stdout: string; stderr: string }> => execIn(k, namespace, c.name, container, cmd);
        return {
          description: `freeze ${namespace}/${c.name} (${container}): ${custom ? command.join(" ") : `SIGSTOP to the process serving ${c.ip}:${POD_PORT}`}`,
          undo: { ...ref, op: "exec", namespace, pod: c.name, container, command: fill(f.params.revertCommand ?? signal("CONT"), vars), ...(custom ? {} : { activeCommand: fill(STOPPED, vars) }) },
          apply: async () => {
            const r = await exec(command);
            if (r.code !== 0) throw new FaultlineError("E_DRIVER", `kubernetes: freezing ${namespace}/${c.name} exited ${r.code ?? "without a status"}: ${r.stderr.slice(0, 300)}`);
          },
          // a custom command freezes something behind the server, which may well still answer its health route
          verify: custom ? undefined : async () => {
            const r = await exec(fill(PROBE, vars));
            const exit = /curl-exit=(\d+)/.exec(r.stdout)?.[1];
            if (exit === "0") throw new FaultlineError("E_DRIVER", `kubernetes: ${namespace}/${c.name} still answers after it was frozen`);
            if (exit !== "28") throw new FaultlineError("E_DRIVER", `kubernetes: frozen ${namespace}/${c.name} no longer accepts connections (curl exit ${exit ?? "unknown"}: ${r.stderr.trim().slice(0, 200)})`);
          },
        };
      }),
    };
  },
};
