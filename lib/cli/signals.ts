import { FaultlineError } from "../errors.ts";
import { procStat } from "../proc/group.ts";

/** A terminal signals the whole process group and a wrapper (npx, make, bin/launch.js) passes it on too: one press, two deliveries. */
const SAME_SIGNAL_MS = 300;
const ANCESTOR_CHECK_MS = 500;

/**
 * The processes between this one and what the user typed: parent, grandparent, … up to this
 * session's leader (the shell, or what `setsid` started), never init. Empty when this process leads
 * its own session (started with `setsid`: detached on purpose) or has no /proc to read.
 */
function ancestors(): { pid: number; comm: string; start: string }[] {
  const me = procStat(process.pid);
  if (me === undefined || me.session === process.pid) return [];
  const out: { pid: number; comm: string; start: string }[] = [];
  let pid = me.ppid;
  for (let i = 0; i < 16 && pid > 1; i++) {
    const st = procStat(pid);
    if (st === undefined) break;
    out.push({ pid, comm: st.comm, start: st.start });
    if (pid === me.session) break;
    pid = st.ppid;
  }
  return out;
}

export interface Interruptible {
  signal: AbortSignal;
  dispose(): void;
}

/**
 * While a run or a game day is under way: SIGINT, SIGTERM and SIGHUP abort it (it then reverts
 * every fault and ends `aborted`); a second says it is still reverting; a third exits at once and
 * leaves the rest to `faultline recover`. A process above this one going away (the npx, make or
 * shell the user started) counts as a hang-up: npx and make exit on SIGTERM without passing it on,
 * and a run must not outlive its command. Under `nohup` (FAULTLINE_NOHUP, set by bin/launch.js) or
 * `setsid`, hang-ups and lost parents are what the user asked to survive.
 */
export function interruptible(): Interruptible {
  const controller = new AbortController();
  const nohup = process.env.FAULTLINE_NOHUP === "1";
  const signals: NodeJS.Signals[] = nohup ? ["SIGINT", "SIGTERM"] : ["SIGINT", "SIGTERM", "SIGHUP"];
  let count = 0;
  let last: { sig: string; at: number } = { sig: "", at: 0 };
  const stop = (sig: NodeJS.Signals, why: string): void => {
    const now = Date.now();
    if (sig === last.sig && now - last.at < SAME_SIGNAL_MS) return;
    last = { sig, at: now };
    count++;
    if (count === 1) {
      process.stderr.write(`\n${why}: reverting every fault before exit…\n`);
      controller.abort(new FaultlineError("E_INTERRUPTED", `interrupted by ${why}`));
    } else if (count === 2) {
      process.stderr.write(`${sig} again: still reverting; once more exits at once and leaves the rest to \`faultline recover\`\n`);
    } else {
      process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGHUP" ? 1 : 15));
    }
  };
  const handler = (sig: NodeJS.Signals): void => stop(sig, sig);
  for (const s of signals) process.on(s, handler);
  const chain = nohup ? [] : ancestors();
  const watch =
    chain.length === 0
      ? undefined
      : setInterval(() => {
          const gone = chain.find((p) => {
            const st = procStat(p.pid);
            return st === undefined || st.start !== p.start || st.state === "Z";
          });
          if (gone === undefined) return;
          clearInterval(watch);
          stop("SIGHUP", `SIGHUP (${gone.comm}, pid ${gone.pid}, which started faultline, is gone)`);
        }, ANCESTOR_CHECK_MS).unref();
  return {
    signal: controller.signal,
    dispose: () => {
      clearInterval(watch);
      for (const s of signals) process.off(s, handler);
    },
  };
}
