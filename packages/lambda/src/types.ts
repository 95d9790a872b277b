/**
 * The shapes Lambda hands a handler and takes back, written out here so the package needs no
 * `@types/aws-lambda`: each is the part idemkit reads, and the types of `@types/aws-lambda`
 * (`Context`, `APIGatewayProxyEvent`, `APIGatewayProxyEventV2`, `LambdaFunctionURLEvent`,
 * `APIGatewayProxyResult`, `APIGatewayProxyStructuredResultV2`) fit them.
 */

/** The part of the Lambda context idemkit reads: the time left before Lambda ends the invocation. */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
}

/** An API Gateway REST API event (Lambda proxy integration, payload format 1.0). */
export interface ApiGatewayV1Event {
  httpMethod: string;
  path: string;
  headers: Record<string, string | undefined> | null;
  multiValueHeaders?: Record<string, string[] | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  multiValueQueryStringParameters?: Record<string, string[] | undefined> | null;
  body: string | null;
  isBase64Encoded: boolean;
}

/** An API Gateway HTTP API event (payload format 2.0), and a Lambda function URL event (the same shape). */
export interface ApiGatewayV2Event {
  version: string;
  rawPath: string;
  rawQueryString: string;
  cookies?: string[];
  headers: Record<string, string | undefined>;
  requestContext: { http: { method: string } };
  body?: string;
  isBase64Encoded: boolean;
}

export type HttpEvent = ApiGatewayV1Event | ApiGatewayV2Event;

/**
 * What an idempotent HTTP handler answers (the first time, on a replay, and for idemkit's own 4xx/5xx):
 * a proxy result. To a REST API event (payload 1.0) with `headers` (names sent once) and
 * `multiValueHeaders` (every name, every value); to an HTTP API or function URL event (payload 2.0) with
 * `headers` (values of a repeated name comma-joined) and `cookies` (the `Set-Cookie` values). The body is
 * text when its bytes are UTF-8, base64 (`isBase64Encoded: true`) otherwise.
 */
export interface LambdaHttpResult {
  statusCode: number;
  headers: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  cookies?: string[];
  body: string;
  isBase64Encoded: boolean;
}

/** What an idempotent handler is told about its run: the key, the claim's fence, the lease's signal. */
export interface IdempotencyContext {
  /** The idempotency key (the client's header, or what `key` took from the event). */
  key: string;
  /** Grows with every claim of the key: pass it downstream to reject a stale owner. */
  fence: number;
  /** Fires when the lease is lost mid-handler; a new owner may be running. */
  signal: AbortSignal;
}
