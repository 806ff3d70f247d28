// A company with 100,000 calls and 10,000 conversations (seeded straight into the SQLite file
// of a real `crm serve`): the lists page through the API as they are scrolled and keep only
// the visible rows in the page. The frame times while scrolling are printed and written to
// e2e/output/big-lists.json (a measurement, not asserted).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { openBrowser, screenshots, startCrm, startTelegram } from "./harness.mjs";

let crm;
let telegram;
let browser;
let problems;
let page;
const figures = {};

async function graphql(query, variables, token) {
  const response = await fetch(`${crm.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

// The server writes to the same file meanwhile (presence, the connection's webhook): wait for
// its lock instead of failing with "database is locked".
const SEED = `
.timeout 20000
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO calls (tenant_id, id, direction, status, from_number, to_number, edge, started_at)
SELECT (SELECT id FROM tenants LIMIT 1), randomblob(16),
       CASE WHEN i % 5 = 0 THEN 'outbound' ELSE 'inbound' END,
       CASE WHEN i % 3 = 0 THEN 'missed' ELSE 'completed' END,
       '+99890' || printf('%07d', i), '+998712000000', 'seed',
       strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || i || ' minutes')
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000)
INSERT INTO conversations (tenant_id, id, connection_id, thread, customer_id, status, blocked, last_message_at, created_at)
SELECT (SELECT id FROM tenants LIMIT 1), randomblob(16), (SELECT id FROM channel_connections LIMIT 1),
       'seed-' || i, (SELECT id FROM customers LIMIT 1), 'open', 0,
       strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || i || ' minutes'),
       strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-' || i || ' minutes')
FROM n;`;

before(async () => {
  telegram = await startTelegram();
  crm = await startCrm({ CRM_TELEGRAM_API_URL: telegram.url });
  const input = { company: "Big", name: "Ann", email: "ann@big.test", password: "a long password", defaultCountry: "UZ" };
  const session = (
    await graphql(
      "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken accessTokenExpiresAt refreshToken userId companyId } }",
      { i: input },
    )
  ).signUp;
  await graphql('mutation { createCustomer(input: { name: "Everyone" }) { id } }', {}, session.accessToken);
  await graphql('mutation { connectTelegram(name: "Bot", botToken: "333333333:AAE-big") { id } }', {}, session.accessToken);
  execFileSync("sqlite3", [join(crm.dir, "data", "crm.sqlite")], { input: SEED });
  ({ browser, problems } = await openBrowser());
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB" });
  await context.addInitScript((s) => localStorage.setItem("crm.session", JSON.stringify(s)), session);
  page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  page.setDefaultTimeout(30_000);
});

after(async () => {
  await browser?.close();
  crm?.stop();
  telegram?.close();
  writeFileSync(join(screenshots, "..", "big-lists.json"), JSON.stringify(figures, null, 2));
});

/** Scrolls the list for `ms`, recording every frame's time and the rows in the page. */
async function scroll(ms) {
  return page.evaluate(async (duration) => {
    const list = document.querySelector(".virtual");
    const frames = [];
    let rows = 0;
    let last = performance.now();
    const end = last + duration;
    await new Promise((done) => {
      const step = (now) => {
        frames.push(now - last);
        last = now;
        rows = Math.max(rows, list.querySelectorAll(".virtual-row").length);
        list.scrollTop += 600;
        if (now < end) requestAnimationFrame(step);
        else done();
      };
      requestAnimationFrame(step);
    });
    frames.sort((a, b) => a - b);
    const at = (p) => Math.round(frames[Math.floor((frames.length - 1) * p)] * 10) / 10;
    return { frames: frames.length, p50: at(0.5), p95: at(0.95), max: at(1), maxRowsInPage: rows, scrolledRows: Math.round(list.scrollHeight / 56) };
  }, ms);
}

test("100,000 calls scroll page by page, with only the visible rows in the page", async () => {
  await page.goto(`${crm.url}/calls`);
  await page.getByText("100,000 calls").waitFor();
  const result = await scroll(4000);
  figures.calls = result;
  console.log(`calls: ${JSON.stringify(result)}`);
  assert.ok(result.scrolledRows > 200, `pages were loaded while scrolling (${result.scrolledRows} rows)`);
  assert.ok(result.maxRowsInPage < 80, `only visible rows are rendered (${result.maxRowsInPage})`);
});

test("10,000 conversations scroll past the first page, with only the visible rows in the page", async () => {
  await page.goto(`${crm.url}/chats`);
  await page.getByRole("list", { name: "Chats" }).getByRole("link").first().waitFor();
  const result = await scroll(4000);
  figures.conversations = result;
  console.log(`conversations: ${JSON.stringify(result)}`);
  assert.ok(result.scrolledRows > 100, `older conversations were loaded (${result.scrolledRows} rows)`);
  assert.ok(result.maxRowsInPage < 80, `only visible rows are rendered (${result.maxRowsInPage})`);
  assert.deepEqual(problems, []);
});
