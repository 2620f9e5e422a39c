// Loaded before every test file: pinned tools first on PATH, as the Makefile has them.
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
process.env.PATH = `${root}tools/bin:${root}tools/node/bin:${process.env.PATH ?? ""}`;
