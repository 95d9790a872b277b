/**
 * The documentation site, end to end: every code sample type-checks, the site builds (TypeDoc's API
 * reference, then VitePress), and every page, served on loopback, opens in headless Chromium (Debian's
 * package, driven by playwright-core) with a main heading and no console error, page error or failed
 * request, and every internal link (and its #anchor) resolves.
 *
 * Chromium comes from `scripts/ensure-chromium.sh` (which `.ci/run` calls). Without /usr/bin/chromium
 * the browser part is skipped with a visible line, unless IDEMKIT_REQUIRE names `chromium` (CI does):
 * then it fails. The type-check and the build run either way.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize, relative, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const site = fileURLToPath(new URL("..", import.meta.url));
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
const TABS = 4;

function tsc(project: string): { status: number | null; output: string } {
  const bin = join(site, "node_modules", "typescript", "bin", "tsc");
  const result = spawnSync(process.execPath, [bin, "--noEmit", "-p", project], {
    cwd: site,
    encoding: "utf8",
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe("the guides' code samples", () => {
  it("type-check: snippets/**/*.ts with tsc --noEmit (strict, NodeNext, the packages' own types)", () => {
    const { status, output } = tsc("tsconfig.json");
    expect(output).toBe("");
    expect(status).toBe(0);
  });

  it("type-check: the Express 4 samples against Express 4's types (@types/express 4.17)", () => {
    const { status, output } = tsc("tsconfig.express4.json");
    expect(output).toBe("");
    expect(status).toBe(0);
  });
});

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".woff2": "font/woff2",
  ".png": "image/png",
  ".txt": "text/plain; charset=utf-8",
};

/** The built site on loopback, as a static host serves it: `/a/` is `/a/index.html`, anything else 404. */
function serve(root: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    const pathname = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    let file = normalize(join(root, pathname));
    if (!file.startsWith(root)) file = join(root, "404.html.missing");
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
    if (!existsSync(file)) {
      res.writeHead(404, { "content-type": TYPES[".html"] });
      res.end(existsSync(join(root, "404.html")) ? readFileSync(join(root, "404.html")) : "not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }),
    ),
  );
}

/** Every HTML page of the build, as the URL path a visitor opens (`/guide/x.html`, `/api/`). */
function pagesOf(root: string): string[] {
  const pages: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (name.endsWith(".html") && path !== join(root, "404.html")) {
        const url = `/${relative(root, path).split(sep).join("/")}`;
        pages.push(url.endsWith("/index.html") ? url.slice(0, -"index.html".length) : url);
      }
    }
  };
  walk(root);
  return pages.sort();
}

/** The page a link path lands on, in the form `pagesOf` uses (`/api/index.html` is `/api/`). */
const pageKey = (pathname: string) =>
  pathname.endsWith("/index.html") ? pathname.slice(0, -"index.html".length) : pathname;

interface Visit {
  status: number;
  heading: string;
  problems: string[];
  ids: Set<string>;
  links: string[];
}

async function visit(page: Page, origin: string, path: string): Promise<Visit> {
  const problems: string[] = [];
  const onConsole = (message: { type(): string; text(): string }) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  };
  const onPageError = (error: Error) => problems.push(`page error: ${error.message}`);
  const onResponse = (response: { url(): string; status(): number }) => {
    if (response.url().startsWith(origin) && response.status() >= 400)
      problems.push(`${response.status()} for ${response.url().slice(origin.length)}`);
  };
  const onFailed = (request: { url(): string; failure(): { errorText: string } | null }) => {
    // ERR_ABORTED: the browser cancelled it (a link prefetch cut short by the next navigation), no failure
    const reason = request.failure()?.errorText ?? "";
    if (request.url().startsWith(origin) && !reason.includes("ERR_ABORTED"))
      problems.push(`request failed: ${request.url().slice(origin.length)} (${reason})`);
  };
  page.on("console", onConsole);
  page.on("pageerror", onPageError);
  page.on("response", onResponse);
  page.on("requestfailed", onFailed);
  try {
    const response = await page.goto(origin + path, { waitUntil: "networkidle", timeout: 30_000 });
    // The heading is in the served HTML, so only a loaded machine makes this wait (CI once passed 5 s);
    // a page without one is reported by its path rather than as a bare timeout.
    const heading = (
      (await page
        .locator("#VPContent h1")
        .first()
        .textContent({ timeout: 30_000 })
        .catch(() => "")) ?? ""
    )
      .replace(/\s+/g, " ")
      .trim();
    const ids = new Set(await page.$$eval("[id]", (elements) => elements.map((e) => e.id)));
    const links = await page.$$eval("a[href]", (anchors) =>
      anchors.map((a) => (a as HTMLAnchorElement).href),
    );
    return { status: response?.status() ?? 0, heading, problems, ids, links };
  } finally {
    page.off("console", onConsole);
    page.off("pageerror", onPageError);
    page.off("response", onResponse);
    page.off("requestfailed", onFailed);
  }
}

describe("the documentation site", () => {
  // This run's own build output (other people's builds and tests may share the checkout), removed after.
  const dist = mkdtempSync(join(tmpdir(), "idemkit-docs-site-"));
  let skipped: string | false = false;
  let server: Server | undefined;
  let origin = "";
  let context: BrowserContext | undefined;
  let profile: string | undefined;

  beforeAll(async () => {
    const started = Date.now();
    const build = spawnSync(process.execPath, [join(site, "scripts", "build.mjs")], {
      cwd: site,
      encoding: "utf8",
      env: { ...process.env, IDEMKIT_DOCS_OUT_DIR: dist },
    });
    if (build.status !== 0) throw new Error(`pnpm docs:build failed:\n${build.stdout}\n${build.stderr}`);
    console.log(`[docs] site built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    skipped = skipUnlessAvailable(
      "chromium",
      existsSync(CHROMIUM)
        ? undefined
        : `${CHROMIUM} is missing (Debian's chromium package; scripts/ensure-chromium.sh installs it)`,
    );
    if (skipped) return;
    ({ server, origin } = await serve(dist));
    profile = mkdtempSync(join(tmpdir(), "idemkit-docs-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
    });
  });

  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    rmSync(dist, { recursive: true, force: true });
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  });

  it("builds: TypeDoc's API reference for every public package, then VitePress", () => {
    const pages = pagesOf(dist);
    for (const name of [
      "core",
      "express",
      "fastify",
      "node",
      "sqlite",
      "redis",
      "postgres",
      "mongodb",
      "mysql",
      "dynamodb",
      "nestjs",
      "hono",
      "koa",
      "lambda",
      "otel",
    ]) {
      expect(pages).toContain(`/api/@idemkit/${name}.html`);
    }
    for (const name of ["conformance", "client"]) expect(pages).toContain(`/api/@idemkit/${name}.html`);
    expect(pages).toContain("/guarantees.html");
    expect(pages).toContain("/design.html");
  });

  it("opens every page in headless Chromium: a main heading, no console error, no failed request; every internal link and #anchor resolves", async (test) => {
    if (skipped || !context) return test.skip();
    const started = Date.now();
    const queue = pagesOf(dist);
    const visits = new Map<string, Visit>();
    const links = new Map<string, Set<string>>(); // target URL (path + #hash) → the pages linking to it
    const seen = new Set(queue);
    const tabs = await Promise.all(Array.from({ length: TABS }, () => context!.newPage()));
    await Promise.all(
      tabs.map(async (tab) => {
        for (let path = queue.shift(); path !== undefined; path = queue.shift()) {
          const result = await visit(tab, origin, path);
          visits.set(path, result);
          for (const href of result.links) {
            if (!href.startsWith(`${origin}/`)) continue;
            const url = new URL(href);
            const target = url.pathname + url.hash;
            if (!links.has(target)) links.set(target, new Set());
            links.get(target)!.add(path);
            const key = pageKey(url.pathname);
            if (key.endsWith("/") || key.endsWith(".html")) {
              if (!seen.has(key)) {
                seen.add(key);
                queue.push(key); // a page no file was found for: its visit records the 404
              }
            }
          }
        }
      }),
    );
    await Promise.all(tabs.map((tab) => tab.close()));

    const failures: string[] = [];
    for (const [path, result] of visits) {
      if (result.status !== 200) failures.push(`${path}: HTTP ${result.status}`);
      if (!result.heading) failures.push(`${path}: no main heading (#VPContent h1)`);
      for (const problem of result.problems) failures.push(`${path}: ${problem}`);
    }
    for (const [target, from] of links) {
      const [pathname = "", hash = ""] = target.split("#");
      const key = pageKey(pathname);
      const landing = visits.get(key);
      const where = [...from].slice(0, 3).join(", ");
      if (!landing) {
        // an asset: it must be served
        const response = await fetch(origin + pathname);
        await response.arrayBuffer();
        if (response.status !== 200)
          failures.push(`${target} (linked from ${where}): HTTP ${response.status}`);
        continue;
      }
      if (landing.status !== 200) failures.push(`${target} (linked from ${where}): HTTP ${landing.status}`);
      else if (hash && !landing.ids.has(decodeURIComponent(hash))) {
        failures.push(`${target} (linked from ${where}): no element with id "${decodeURIComponent(hash)}"`);
      }
    }
    console.log(
      `[docs] ${visits.size} pages and ${links.size} internal link targets checked in Chromium in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(failures).toEqual([]);
    expect(visits.size).toBeGreaterThan(20);
  });
});
