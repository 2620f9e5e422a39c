import js from "@eslint/js";
import tseslint from "typescript-eslint";
import { LAYERS } from "./lib/layers.js";

/**
 * One rule per room of lib/: an import of a room it may not use (see lib/layers.js) is an error.
 * Relative imports only name rooms as `../room/` (or `../../room/` from a subfolder).
 */
const layerRules = Object.entries(LAYERS).map(([room, allowed]) => {
  const forbidden = Object.keys(LAYERS).filter((r) => r !== room && !allowed.includes(r));
  return {
    files: [`lib/${room}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: [{ regex: `^(\\.\\./)+(${forbidden.join("|")})/`, message: `lib/${room} may import from ${allowed.join(", ") || "no other room"} (and errors, clock, text): see lib/README.md` }] },
      ],
    },
  };
});

export default tseslint.config(
  { ignores: ["node_modules/", "reports/", "tools/node/", "tools/bin/", ".faultline/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: "readonly", console: "readonly", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", URL: "readonly", Buffer: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  ...layerRules,
  {
    // what every room may use: errors, clock and text import no room
    files: ["lib/errors.ts", "lib/clock.ts", "lib/text.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [{ regex: `^\\./(${Object.keys(LAYERS).join("|")})/`, message: "lib/errors.ts, clock.ts and text.ts are below every room: they import none" }] }] },
  },
  {
    files: ["lib/report/report-app.js"],
    languageOptions: { sourceType: "script", globals: { document: "readonly", window: "readonly", Node: "readonly", devicePixelRatio: "readonly", uPlot: "readonly" } },
  },
  {
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs", globals: { require: "readonly", module: "writable", process: "readonly" } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
);
