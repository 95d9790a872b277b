/** Redraws the chart of a results file: `tsx src/render.ts results/full.json` writes `results/full.svg`. */
import { readFileSync, writeFileSync } from "node:fs";
import { renderSvg } from "./report.js";

const file = process.argv[2] ?? "results/quick.json";
writeFileSync(file.replace(/\.json$/, ".svg"), renderSvg(JSON.parse(readFileSync(file, "utf8"))));
