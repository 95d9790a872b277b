import type { IncomingMessage, ServerResponse } from "node:http";
import { sendWebResponse } from "./send-web-response.js";
import { type ToWebRequestOptions, toWebRequest } from "./to-web-request.js";

export type FetchHandler = (request: Request) => Response | Promise<Response>;

export interface RequestListenerOptions extends ToWebRequestOptions {
  /** Called when the handler throws; the client gets a bare 500 (default logs to `console.error`). */
  onError?: (error: unknown, request: Request) => void;
}

/**
 * A node:http request listener that runs a Web `fetch` handler:
 * `createServer(createRequestListener(idem.wrap(handler)))`.
 */
export function createRequestListener(
  fetch: FetchHandler,
  options: RequestListenerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const onError = options.onError ?? ((error: unknown) => console.error(error));
  return (req, res) => {
    const request = toWebRequest(req, options);
    Promise.resolve()
      .then(() => fetch(request))
      .then(
        (response) => sendWebResponse(res, response),
        (error: unknown) => {
          onError(error, request);
          if (res.headersSent) {
            res.destroy();
            return;
          }
          res.statusCode = 500;
          res.setHeader("content-type", "text/plain; charset=utf-8");
          res.end("Internal Server Error");
        },
      );
  };
}
