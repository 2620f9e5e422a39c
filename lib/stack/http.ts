import type { IncomingMessage, ServerResponse } from "node:http";

/** A request body as text, capped so a stray client cannot fill memory. */
export function readBody(req: IncomingMessage, limit = 1 << 20): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = "";
    req.on("data", (c: Buffer) => {
      if (s.length < limit) s += c.toString();
    });
    req.on("end", () => resolve(s));
    req.on("error", reject);
  });
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
