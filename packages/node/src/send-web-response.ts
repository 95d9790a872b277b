import type { ServerResponse } from "node:http";

/**
 * Writes a Web `Response` to a node:http response: status, headers (each `Set-Cookie` on its own
 * line), then the body chunk by chunk with backpressure, so streams (server-sent events) flow as they
 * are produced. If the client goes away the body is cancelled; if the body fails the socket is
 * destroyed, so the client sees a truncated response, never a complete-looking one.
 */
export async function sendWebResponse(res: ServerResponse, response: Response): Promise<void> {
  res.statusCode = response.status;
  if (response.statusText) res.statusMessage = response.statusText;
  response.headers.forEach((value, name) => {
    if (name !== "set-cookie") res.setHeader(name, value);
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) res.setHeader("set-cookie", cookies);

  if (response.body === null) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const closed = () => res.destroyed || res.writableEnded;
  const onClose = () => {
    if (!res.writableFinished) reader.cancel().catch(() => {});
  };
  res.once("close", onClose);
  try {
    res.flushHeaders();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (closed()) return;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = () => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.on("drain", go);
          res.on("close", go);
        });
      }
    }
    if (!closed()) res.end();
  } catch (error) {
    res.destroy(error instanceof Error ? error : new Error(String(error)));
  } finally {
    res.off("close", onClose);
  }
}
