import { connect } from "node:net";

/**
 * Test glue: HTTP/1.1 over a bare `net` socket, for requests `fetch` cannot send (a request target
 * like `//x` or `*`, a bad `Host`, a header line twice, a body that never ends) and for clients
 * that go away mid-response. One request per connection (`Connection: close`). Not part of any package.
 */

export interface RawResponse {
  status: number;
  statusText: string;
  /** Header lines in order, names lower-cased (a name may repeat). */
  lines: [string, string][];
  /** A header's value by lower-case name, repeated lines comma-joined; `undefined` if absent. */
  header(name: string): string | undefined;
  body: Buffer;
  /** Whether the body came `Transfer-Encoding: chunked`. */
  chunked: boolean;
  text(): string;
  // biome-ignore lint/suspicious/noExplicitAny: test glue, a parsed JSON body of any shape
  json(): any;
}

export interface RawRequest {
  method: string;
  /** The request target exactly as sent (`/a`, `//x`, `*`). */
  target: string;
  /** Header lines as sent; `Host` is added unless given, `Connection: close` always. */
  headers?: [string, string][] | Record<string, string>;
  /** A whole body (sent with `Content-Length` unless `chunked`), or pieces (always chunked). */
  body?: string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
  /** Sends a whole body `Transfer-Encoding: chunked`, in pieces of this many bytes. */
  chunked?: number;
}

export interface RawOptions {
  /** Goes away (destroys the socket) this many ms after the request was sent, whatever arrived. */
  disconnectAfterMs?: number;
  /** Gives up after this many ms (rejects). Default 15 s. */
  timeoutMs?: number;
}

/** What an exchange ended with: the response, or `undefined` when the client went away first. */
export interface RawResult {
  response: RawResponse | undefined;
  /** Body bytes the client had written when the response (or the end) came. */
  bodyBytesSent: number;
  /** Whether the whole request body was written. */
  bodyComplete: boolean;
}

const CRLF = "\r\n";

/** Sends one request over a new connection and reads the response; see `exchange` for the details. */
export async function raw(port: number, request: RawRequest, options: RawOptions = {}): Promise<RawResponse> {
  const { response } = await exchange(port, request, options);
  if (response === undefined) throw new Error("no response: the connection ended first");
  return response;
}

/**
 * Sends one request over a new connection and reads its response. The body is written with
 * backpressure and writing stops as soon as a whole response has arrived (a server that answers
 * 413 before reading the rest) or the connection ends.
 */
export function exchange(port: number, request: RawRequest, options: RawOptions = {}): Promise<RawResult> {
  const socket = connect(port, "127.0.0.1");
  socket.setNoDelay(true);
  const parser = new ResponseParser();
  let bodyBytesSent = 0;
  let bodyComplete = false;
  let done = false;

  return new Promise<RawResult>((resolve, reject) => {
    const timeout = setTimeout(
      () => finish(new Error(`no response within ${options.timeoutMs ?? 15_000} ms`)),
      options.timeoutMs ?? 15_000,
    );
    let disconnect: ReturnType<typeof setTimeout> | undefined;
    const finish = (error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timeout);
      clearTimeout(disconnect);
      socket.destroy();
      if (error) reject(error);
      else resolve({ response: parser.response(), bodyBytesSent, bodyComplete });
    };
    socket.on("data", (chunk: Buffer) => {
      parser.push(chunk);
      if (parser.complete) finish();
    });
    socket.on("end", () => {
      parser.end();
      finish();
    });
    socket.on("close", () => {
      parser.end();
      finish();
    });
    // A reset after the server answered (it closed with our upload unread) ends the exchange, not the test.
    socket.on("error", () => {
      parser.end();
      finish();
    });
    socket.once("connect", async () => {
      try {
        const pieces = bodyPieces(request);
        const chunked = pieces !== undefined && (request.chunked !== undefined || !isWhole(request.body));
        socket.write(head(port, request, chunked, pieces));
        if (options.disconnectAfterMs !== undefined) {
          disconnect = setTimeout(() => finish(), options.disconnectAfterMs);
        }
        if (pieces !== undefined) {
          for await (const piece of pieces) {
            if (done || socket.destroyed || parser.complete) return;
            const framed = chunked
              ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}${CRLF}`), piece, Buffer.from(CRLF)])
              : piece;
            bodyBytesSent += piece.length;
            if (!socket.write(framed)) await drainOrEnd(socket);
          }
          if (done || socket.destroyed) return;
          if (chunked) socket.write(`0${CRLF}${CRLF}`);
        }
        bodyComplete = true;
      } catch (error) {
        if (!parser.complete) finish(error as Error);
      }
    });
  });
}

function isWhole(body: RawRequest["body"]): body is string | Uint8Array {
  return typeof body === "string" || body instanceof Uint8Array;
}

function bodyPieces(request: RawRequest): Iterable<Uint8Array> | AsyncIterable<Uint8Array> | undefined {
  const body = request.body;
  if (body === undefined) return undefined;
  if (!isWhole(body)) return body;
  const bytes = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
  if (request.chunked === undefined) return [bytes];
  const pieces: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += request.chunked)
    pieces.push(bytes.subarray(at, at + request.chunked));
  return pieces;
}

function head(
  port: number,
  request: RawRequest,
  chunked: boolean,
  pieces: Iterable<Uint8Array> | AsyncIterable<Uint8Array> | undefined,
): string {
  const given = Array.isArray(request.headers) ? request.headers : Object.entries(request.headers ?? {});
  const lines: [string, string][] = [];
  if (!given.some(([name]) => name.toLowerCase() === "host")) lines.push(["Host", `127.0.0.1:${port}`]);
  lines.push(...given, ["Connection", "close"]);
  if (chunked) lines.push(["Transfer-Encoding", "chunked"]);
  else if (pieces !== undefined) lines.push(["Content-Length", String((pieces as Uint8Array[])[0]!.length)]);
  const text = lines.map(([name, value]) => `${name}: ${value}${CRLF}`).join("");
  return `${request.method} ${request.target} HTTP/1.1${CRLF}${text}${CRLF}`;
}

function drainOrEnd(socket: import("node:net").Socket): Promise<void> {
  return new Promise((resolve) => {
    const go = () => {
      socket.off("drain", go);
      socket.off("close", go);
      resolve();
    };
    socket.on("drain", go);
    socket.on("close", go);
  });
}

/** An HTTP/1.1 response parser: status line, headers, then a body by length, chunked, or to the end. */
class ResponseParser {
  complete = false;
  #buffer = Buffer.alloc(0);
  #head: { status: number; statusText: string; lines: [string, string][] } | undefined;
  #body: Buffer[] = [];
  #chunked = false;
  #ended = false;

  push(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    this.#parse();
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    // A body framed by the connection's end (neither length nor chunked) is complete when it ends.
    if (this.#head && !this.complete && this.#length() === undefined && !this.#chunked) {
      this.#body.push(this.#buffer);
      this.#buffer = Buffer.alloc(0);
      this.complete = true;
    }
  }

  response(): RawResponse | undefined {
    const parsed = this.#head;
    if (parsed === undefined || !this.complete) return undefined;
    const body = Buffer.concat(this.#body);
    return {
      ...parsed,
      header: (name) => {
        const values = parsed.lines.filter(([n]) => n === name).map(([, v]) => v);
        return values.length === 0 ? undefined : values.join(", ");
      },
      body,
      chunked: this.#chunked,
      text: () => body.toString("utf8"),
      json: () => JSON.parse(body.toString("utf8")),
    };
  }

  #length(): number | undefined {
    const value = this.#head?.lines.find(([n]) => n === "content-length")?.[1];
    return value === undefined ? undefined : Number(value);
  }

  #parse(): void {
    for (;;) {
      if (this.complete) return;
      if (this.#head === undefined) {
        const end = this.#buffer.indexOf("\r\n\r\n");
        if (end === -1) return;
        const [statusLine, ...rest] = this.#buffer.subarray(0, end).toString("latin1").split(CRLF);
        this.#buffer = this.#buffer.subarray(end + 4);
        const match = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine!);
        if (!match) throw new Error(`not an HTTP response: ${statusLine}`);
        const status = Number(match[1]);
        if (status >= 100 && status < 200) continue; // 100 Continue and friends: the real one follows
        const lines = rest.map((line): [string, string] => {
          const colon = line.indexOf(":");
          return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
        });
        this.#head = { status, statusText: match[2]!, lines };
        this.#chunked = /chunked/i.test(lines.find(([n]) => n === "transfer-encoding")?.[1] ?? "");
        if (status === 204 || status === 304 || this.#length() === 0) {
          this.complete = true;
          return;
        }
        continue;
      }
      if (this.#chunked) {
        const lineEnd = this.#buffer.indexOf(CRLF);
        if (lineEnd === -1) return;
        const size = Number.parseInt(this.#buffer.subarray(0, lineEnd).toString("latin1"), 16);
        if (size === 0) {
          this.complete = true; // trailers, if any, are not read
          return;
        }
        if (this.#buffer.length < lineEnd + 2 + size + 2) return;
        this.#body.push(this.#buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
        this.#buffer = this.#buffer.subarray(lineEnd + 2 + size + 2);
        continue;
      }
      const length = this.#length();
      if (length === undefined) return; // read to the end of the connection
      if (this.#buffer.length < length) return;
      this.#body.push(this.#buffer.subarray(0, length));
      this.#buffer = this.#buffer.subarray(length);
      this.complete = true;
      return;
    }
  }
}
