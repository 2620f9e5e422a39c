export * from "./duration.ts";
export * from "./experiment.ts";
export * from "./target.ts";
export * from "./json-schema.ts";
