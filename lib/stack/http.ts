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

/** A JSON object body, capped at `limit` bytes: 413 over it, 400 when it is not JSON (through `fail`). */
export function readJsonBody(req: IncomingMessage, limit: number, fail: (code: number, message: string) => void, then: (body: Record<string, unknown>) => void): void {
  const chunks: Buffer[] = [];
  let size = 0;
  let failed = false;
  req.on("data", (c: Buffer) => {
    size += c.length;
    if (size > limit) {
      if (!failed) fail(413, `body over ${limit} bytes`);
      failed = true;
      req.destroy();
      return;
    }
    chunks.push(c);
  });
  req.on("end", () => {
    if (failed) return;
    const text = Buffer.concat(chunks).toString("utf8");
    let body: unknown = {};
    try {
      body = text === "" ? {} : JSON.parse(text);
    } catch {
      fail(400, "body is not JSON");
      return;
    }
    then(typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {});
  });
}
