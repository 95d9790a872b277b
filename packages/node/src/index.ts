export { createRequestListener, type FetchHandler, type RequestListenerOptions } from "./request-listener.js";
export { sendWebResponse } from "./send-web-response.js";
export { type ToWebRequestOptions, toWebRequest } from "./to-web-request.js";
