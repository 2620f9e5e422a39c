// Entry point of one replica process; the supervisor passes its options as JSON in FAULTLINE_REPLICA.
import { Replica } from "./replica.ts";
import type { ReplicaOptions } from "./replica.ts";

const options = JSON.parse(process.env.FAULTLINE_REPLICA ?? "null") as ReplicaOptions | null;
if (options === null) {
  process.stderr.write("replica: FAULTLINE_REPLICA (JSON options) is not set\n");
  process.exit(2);
}
const replica = new Replica(options);
await replica.start();
process.stderr.write(`replica ${options.name} listening on ${options.host}:${options.port}\n`);
const stop = (): void => void replica.stop().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
