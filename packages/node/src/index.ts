export { type Captor, preparePrototypes } from "./captive-prototype.js";
export { type Captured, type CaptureOptions, ResponseCapture } from "./capture.js";
export {
  idempotency,
  idempotencyContext,
  idempotentListener,
  internalError,
  type NodeIdempotencyOptions,
  type NodeMiddleware,
} from "./middleware.js";
export { bodyTaken, nodeBody, readBody } from "./read-body.js";
export { type ReadUpTo, readUpTo } from "./read-stream.js";
export { nodeExchange, type ServeHooks, serve, type WatchedBody, watchBody } from "./serve.js";
export {
  createRequestListener,
  type FetchHandler,
  type RequestListenerOptions,
  sendWebResponse,
  toWebRequest,
} from "./web-bridge.js";
export { type AnswerOptions, answerHeaders, writeAnswer, writeRouteResponse } from "./write-response.js";
