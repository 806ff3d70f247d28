// The first screen's JavaScript, gzipped: the entry script and what index.html preloads.
// Fails above the budget (300 KB); every other chunk loads with its route.
import { readFileSync, readdirSync } from "node:fs";
import { gzipSync } from "node:zlib";

const BUDGET = 300 * 1024;
const dist = new URL("../dist/", import.meta.url);
const html = readFileSync(new URL("index.html", dist), "utf8");
const first = [...html.matchAll(/(?:src|href)="\/(assets\/[^"]+\.js)"/g)].map((m) => m[1]);
const gz = (file) => gzipSync(readFileSync(new URL(file, dist))).length;
const total = first.reduce((sum, file) => sum + gz(file), 0);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
for (const file of first) console.log(`first screen  ${file}  ${kb(gz(file))}`);
for (const file of readdirSync(new URL("assets/", dist)).filter((f) => f.endsWith(".js") && !first.includes(`assets/${f}`)))
  console.log(`by route      assets/${file}  ${kb(gz(`assets/${file}`))}`);
console.log(`first screen JavaScript: ${kb(total)} gzipped (budget ${kb(BUDGET)})`);
if (total > BUDGET) {
  console.error("error: the first screen's JavaScript is over budget: split the new code by route (React.lazy)");
  process.exit(1);
}
