import type { ParamValue } from "../schema/experiment.ts";

const WHOLE = /^\$\{([A-Za-z][A-Za-z0-9_]*)\}$/;
export const ANY = /\$\{([^}]*)\}/g;

/** Fills `${param}` in every string below `value`; unknown names are collected with their path. */
export function substitute(value: unknown, params: Record<string, ParamValue>, path: PropertyKey[], unknown: { path: PropertyKey[]; name: string }[]): unknown {
  if (typeof value === "string") {
    const whole = WHOLE.exec(value);
    if (whole) {
      const name = whole[1] as string;
      if (Object.hasOwn(params, name)) return params[name];
      unknown.push({ path, name });
      return value;
    }
    return value.replace(ANY, (m, name: string) => {
      if (Object.hasOwn(params, name)) return String(params[name]);
      unknown.push({ path, name });
      return m;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, params, [...path, i], unknown));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, params, [...path, k], unknown)]));
  }
  return value;
}
