import type { RequestTemplate } from "./types.ts";

export interface PreparedRequest {
  body: string;
  stream: boolean;
}

/**
 * `n` request bodies for a template, prompt lengths spread over its range and the stream share
 * honoured, built once so the hot path only picks one (both engines use the same bodies).
 */
export function prepareBodies(t: RequestTemplate, n: number): PreparedRequest[] {
  const out: PreparedRequest[] = [];
  const chat = t.path.includes("chat");
  for (let i = 0; i < n; i++) {
    const tokens = t.promptTokens.min + Math.round(((t.promptTokens.max - t.promptTokens.min) * i) / Math.max(1, n - 1));
    const prompt = "word ".repeat(Math.max(1, Math.round((tokens * 4) / 5)));
    const stream = i / n < t.streamShare;
    const req = chat ? { model: t.model, messages: [{ role: "user", content: prompt }], max_tokens: t.maxTokens, stream } : { model: t.model, prompt, max_tokens: t.maxTokens, stream };
    out.push({ body: JSON.stringify(req), stream });
  }
  return out;
}
