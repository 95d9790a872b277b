// Test support, neither built nor published: a Lambda context as the Node.js runtime hands one to a
// handler, with the invocation's deadline `remainingMs` from now.
import { randomUUID } from "node:crypto";
import type { Context } from "aws-lambda";

export function fakeContext(remainingMs = 30_000): Context {
  const deadline = Date.now() + remainingMs;
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: "orders-api",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:orders-api",
    memoryLimitInMB: "512",
    awsRequestId: requestId,
    logGroupName: "/aws/lambda/orders-api",
    logStreamName: `2026/03/10/[$LATEST]${requestId.replaceAll("-", "")}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}
