import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { MarkdownRenderer as MarkdownIt } from "vitepress";

/** The site folder (`site/`) and the repository around it. */
export const siteRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const repoRoot = resolve(siteRoot, "..");

/**
 * The repository's web address, from the `repository` field of a package's package.json
 * (`git+https://host/owner/name.git` becomes `https://host/owner/name`), or `undefined` when no
 * package names one.
 */
export function repositoryUrl(): string | undefined {
  for (const manifest of ["package.json", "packages/core/package.json"]) {
    const path = join(repoRoot, manifest);
    if (!existsSync(path)) continue;
    const field = JSON.parse(readFileSync(path, "utf8")).repository as string | { url?: string } | undefined;
    const url = typeof field === "string" ? field : field?.url;
    if (!url) continue;
    const web = url
      .replace(/^git\+/, "")
      .replace(/^git:\/\//, "https://")
      .replace(/^git@([^:]+):/, "https://$1/")
      .replace(/\.git$/, "");
    if (/^https?:\/\//.test(web)) return web;
  }
  return undefined;
}

/**
 * Links from a page to a file of the repository outside the site (`../packages/redis/README.md`,
 * written relative to the page, as `docs/*.md` and the package READMEs are) cannot resolve on the
 * built site: they become links to the file in the repository's web view, or plain text where no
 * package names its repository. The docs in `docs/` are included by pages that sit at the same depth
 * under `site/` (`site/design.md` includes `docs/design.md`), so their relative links read the same.
 */
export function repoLinks(md: MarkdownIt, repo: string | undefined, branch = "main"): void {
  md.core.ruler.push("idemkit-repo-links", (state) => {
    const page: string = state.env.relativePath ?? "index.md";
    for (const block of state.tokens) {
      const children = block.children ?? [];
      const dropped: number[] = [];
      for (let i = 0; i < children.length; i++) {
        const token = children[i]!;
        if (token.type !== "link_open") continue;
        const href = token.attrGet("href") ?? "";
        if (/^([a-z][a-z0-9+.-]*:|\/|#)/i.test(href)) continue;
        const [path = "", hash = ""] = href.split("#");
        const target = posix.normalize(posix.join(posix.dirname(page), path));
        if (!target.startsWith("../")) continue; // a page of the site
        const inRepo = relative(repoRoot, resolve(siteRoot, target)).split("\\").join("/");
        if (repo) {
          const kind = existsSync(join(repoRoot, inRepo)) && statSync(join(repoRoot, inRepo)).isDirectory();
          token.attrSet(
            "href",
            `${repo}/${kind ? "tree" : "blob"}/${branch}/${inRepo}${hash ? `#${hash}` : ""}`,
          );
        } else {
          dropped.push(i);
          // its link_close: the next one at the same nesting
          let depth = 0;
          for (let j = i + 1; j < children.length; j++) {
            const next = children[j]!;
            if (next.type === "link_open") depth++;
            else if (next.type === "link_close") {
              if (depth === 0) {
                dropped.push(j);
                break;
              }
              depth--;
            }
          }
        }
      }
      if (dropped.length > 0) block.children = children.filter((_, index) => !dropped.includes(index));
    }
  });
}
