// Test support, neither built nor published: events as API Gateway and Lambda function URLs deliver
// them (recorded shapes, with ids and addresses replaced), each built anew with the parts a test sets.
import type {
  APIGatewayProxyEvent,
  APIGatewayProxyEventV2WithJWTAuthorizer,
  LambdaFunctionURLEventWithIAMAuthorizer,
  SQSRecord,
} from "aws-lambda";

export interface Request {
  method?: string;
  path?: string;
  /** Sent as they are, names as the client wrote them; a name may repeat. */
  headers?: [string, string][];
  query?: [string, string][];
  body?: string | Uint8Array;
  /** Whether API Gateway hands the body on base64-encoded (binary media types, function URLs). */
  base64?: boolean;
  cookies?: string[];
  /** The caller, as the authorizer names it. */
  account?: string;
}

const edgeHeaders = (host: string): [string, string][] => [
  ["Host", host],
  ["User-Agent", "curl/8.5.0"],
  ["X-Amzn-Trace-Id", "Root=1-67cf1b54-2e3c2b8d6f1a4c0b9e7d5a31"],
  ["X-Forwarded-For", "203.0.113.7"],
  ["X-Forwarded-Port", "443"],
  ["X-Forwarded-Proto", "https"],
];

function bodyField(request: Request): { body: string | null; isBase64Encoded: boolean } {
  const { body, base64 = body instanceof Uint8Array } = request;
  if (body === undefined) return { body: null, isBase64Encoded: false };
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : Buffer.from(body);
  return base64
    ? { body: bytes.toString("base64"), isBase64Encoded: true }
    : { body: bytes.toString("utf8"), isBase64Encoded: false };
}

/** A REST API event (Lambda proxy integration, payload 1.0), Cognito user pool authorizer. */
export function restApiEvent(request: Request = {}): APIGatewayProxyEvent {
  const { method = "POST", path = "/orders", account = "acct-1" } = request;
  const host = "abc123xmpl.execute-api.eu-west-1.amazonaws.com";
  const headers = [...edgeHeaders(host), ...(request.headers ?? [])];
  if (request.cookies?.length) headers.push(["Cookie", request.cookies.join("; ")]);
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [name, value] of headers) {
    single[name] = value; // API Gateway keeps the last value in `headers`
    multi[name] = [...(multi[name] ?? []), value];
  }
  const query = request.query ?? [];
  const singleQuery: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [name, value] of query) {
    singleQuery[name] = value;
    multiQuery[name] = [...(multiQuery[name] ?? []), value];
  }
  return {
    resource: path,
    path,
    httpMethod: method,
    headers: single,
    multiValueHeaders: multi,
    queryStringParameters: query.length ? singleQuery : null,
    multiValueQueryStringParameters: query.length ? multiQuery : null,
    pathParameters: null,
    stageVariables: null,
    requestContext: {
      resourceId: "2gxmpl",
      resourcePath: path,
      httpMethod: method,
      extendedRequestId: "JJbxmplHYosFVYQ=",
      requestTime: "10/Mar/2026:16:41:56 +0000",
      path: `/prod${path}`,
      accountId: "123456789012",
      protocol: "HTTP/1.1",
      stage: "prod",
      domainPrefix: "abc123xmpl",
      requestTimeEpoch: 1773160916000,
      requestId: "e5d7bd3f-8c1a-4b9e-9a11-6f3c2f1b0a77",
      identity: {
        accessKey: null,
        accountId: null,
        apiKey: null,
        apiKeyId: null,
        caller: null,
        clientCert: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: "203.0.113.7",
        user: null,
        userAgent: "curl/8.5.0",
        userArn: null,
      },
      domainName: host,
      apiId: "abc123xmpl",
      authorizer: { claims: { sub: account, "cognito:username": account } },
    },
    ...bodyField(request),
  };
}

function v2Headers(request: Request, host: string): Record<string, string> {
  // Payload 2.0: names lower-cased, a repeated name's values comma-joined, cookies apart.
  const headers: Record<string, string> = {};
  for (const [name, value] of [...edgeHeaders(host), ...(request.headers ?? [])]) {
    const lower = name.toLowerCase();
    headers[lower] = lower in headers ? `${headers[lower]},${value}` : value;
  }
  return headers;
}

function v2Query(request: Request): {
  rawQueryString: string;
  queryStringParameters?: Record<string, string>;
} {
  const query = request.query ?? [];
  if (query.length === 0) return { rawQueryString: "" };
  const parameters: Record<string, string> = {};
  for (const [name, value] of query)
    parameters[name] = name in parameters ? `${parameters[name]},${value}` : value;
  return { rawQueryString: new URLSearchParams(query).toString(), queryStringParameters: parameters };
}

/** An HTTP API event (payload 2.0), JWT authorizer. */
export function httpApiEvent(request: Request = {}): APIGatewayProxyEventV2WithJWTAuthorizer {
  const { method = "POST", path = "/orders", account = "acct-1" } = request;
  const host = "r3pmxmplak.execute-api.eu-west-1.amazonaws.com";
  const { body, isBase64Encoded } = bodyField(request);
  return {
    version: "2.0",
    routeKey: `${method} ${path}`,
    rawPath: path,
    ...v2Query(request),
    ...(request.cookies?.length && { cookies: request.cookies }),
    headers: v2Headers(request, host),
    requestContext: {
      accountId: "123456789012",
      apiId: "r3pmxmplak",
      authorizer: {
        principalId: "",
        integrationLatency: 0,
        jwt: {
          claims: { sub: account, iss: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_xmpl" },
          scopes: null,
        },
      },
      domainName: host,
      domainPrefix: "r3pmxmplak",
      http: { method, path, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "curl/8.5.0" },
      requestId: "JKJaXmPLvHcESHA=",
      routeKey: `${method} ${path}`,
      stage: "$default",
      time: "10/Mar/2026:16:41:56 +0000",
      timeEpoch: 1773160916000,
    },
    ...(body !== null && { body }),
    isBase64Encoded,
  };
}

/** A Lambda function URL event (payload 2.0 shape), IAM auth. */
export function functionUrlEvent(request: Request = {}): LambdaFunctionURLEventWithIAMAuthorizer {
  const { method = "POST", path = "/uploads", account = "111122223333" } = request;
  const host = "a1b2c3d4e5xmpl.lambda-url.eu-west-1.on.aws";
  const { body, isBase64Encoded } = bodyField({ base64: true, ...request });
  return {
    version: "2.0",
    routeKey: "$default",
    rawPath: path,
    ...v2Query(request),
    ...(request.cookies?.length && { cookies: request.cookies }),
    headers: {
      ...v2Headers(request, host),
      "x-amzn-tls-cipher-suite": "TLS_AES_128_GCM_SHA256",
      "x-amzn-tls-version": "TLSv1.3",
    },
    requestContext: {
      accountId: "123456789012",
      apiId: "a1b2c3d4e5xmpl",
      authorizer: {
        iam: {
          accessKey: "AKIAIOSFODNN7EXAMPLE",
          accountId: account,
          callerId: "AIDACKCEVSQ6C2EXAMPLE",
          cognitoIdentity: null,
          principalOrgId: "o-xmpl1a2b3c",
          userArn: `arn:aws:iam::${account}:user/uploader`,
          userId: "AIDACKCEVSQ6C2EXAMPLE",
        },
      },
      domainName: host,
      domainPrefix: "a1b2c3d4e5xmpl",
      http: { method, path, protocol: "HTTP/1.1", sourceIp: "203.0.113.7", userAgent: "curl/8.5.0" },
      requestId: "1a2b3c4d-5e6f-7a8b-9c0d-e1f2a3b4c5d6",
      routeKey: "$default",
      stage: "$default",
      time: "10/Mar/2026:16:41:56 +0000",
      timeEpoch: 1773160916000,
    },
    ...(body !== null && { body }),
    isBase64Encoded,
  };
}

/** One record of an SQS event, as a batch delivers it; `receiveCount` grows with each redelivery. */
export function sqsRecord(messageId: string, body: unknown, receiveCount = 1): SQSRecord {
  return {
    messageId,
    receiptHandle: `AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a${receiveCount}`,
    body: JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: "1773160916000",
      SenderId: "AIDAIENQZJOLO23YVJ4VO",
      ApproximateFirstReceiveTimestamp: "1773160916100",
    },
    messageAttributes: {},
    md5OfBody: "e4e68fb7bd0e697a0ae8f1bb342846b3",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:orders",
    awsRegion: "eu-west-1",
  };
}

/** The first bytes of a PNG file: not UTF-8, so only base64 carries them. */
export const PNG_BYTES = Uint8Array.from([
  0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00,
  0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0xff, 0xfe,
]);
