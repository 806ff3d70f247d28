// The web app in real Chromium against a real `crm serve`: a new company signs up,
// configures its trunk and a phone, gets a call with a pop-up, plays the recording, answers
// a Telegram message, finds the customer with everything on one card, and does it in three
// languages without a console error. Screenshots go to e2e/output/screenshots.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  freeUdpPort,
  openBrowser,
  screenshots,
  startBaresip,
  startCrm,
  startSippAnswering,
  startTelegram,
  trunkCall,
  waitFor,
} from "./harness.mjs";

let crm;
let telegram;
let browser;
let problems;
let page;
let phone;
let farEnd;
let firstToken;
const metrics = {};
const token = () => page.evaluate(() => JSON.parse(localStorage.getItem("crm.session")).accessToken);

before(async () => {
  telegram = await startTelegram();
  // A short access token, so the run crosses several silent refreshes.
  crm = await startCrm({ CRM_TELEGRAM_API_URL: telegram.url, CRM_ACCESS_TOKEN_TTL_SECS: "12" });
  ({ browser, problems, watch: globalThis.watch } = await openBrowser());
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, locale: "en-GB" });
  page = globalThis.watch(await context.newPage());
  page.setDefaultTimeout(15_000);
});

after(async () => {
  await page?.screenshot({ path: join(screenshots, "last.png"), fullPage: true }).catch(() => {});
  phone?.stop();
  farEnd?.stop();
  await browser?.close();
  crm?.stop();
  telegram?.close();
  writeFileSync(join(screenshots, "..", "metrics.json"), JSON.stringify(metrics, null, 2));
});

const shot = (name) => page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });
const nav = (name) => page.getByRole("navigation", { name: "Main" }).getByRole("link", { name });

test("a new company signs up and lands on its dashboard", async () => {
  await page.goto(crm.url);
  await page.waitForURL("**/login");
  await page.getByRole("link", { name: "Sign up" }).click();
  await page.getByLabel("Company").fill("Acme Tashkent");
  await page.getByLabel("Your name").fill("Ann Owner");
  await page.getByLabel("Email").fill("ann@acme.test");
  await page.getByLabel("Password").fill("a long password");
  await page.getByLabel("Country (for phone numbers)").selectOption("UZ");
  await page.getByLabel("Time zone").fill("Asia/Tashkent");
  await page.getByRole("button", { name: "Sign up" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  await page.getByText("Answered rate").waitFor();
  firstToken = await token();
  assert.equal(await page.getByText("Owner", { exact: false }).first().isVisible(), true);
  await shot("dashboard");
});

test("an admin configures the Kerio trunk and a phone whose password is shown once", async () => {
  await nav("Settings").click();
  await page.getByRole("link", { name: "Telephony" }).click();
  const form = page.getByRole("form", { name: "Add trunk" });
  await form.getByLabel("Name").fill("Kerio");
  await form.getByLabel("Kerio's addresses (comma-separated)").fill("127.0.0.2");
  await form.getByLabel("Numbers it sends (comma-separated)").fill("+998712000000");
  // Click-to-call goes out through Kerio: here sipp answers for the customer.
  const farPort = await freeUdpPort("127.0.0.5");
  farEnd = startSippAnswering("127.0.0.5", farPort, crm.dir);
  await form.getByLabel("Outbound address (host:port, for click-to-call)").fill(`127.0.0.5:${farPort}`);
  await form.getByRole("button", { name: "Add trunk" }).click();
  await page.getByRole("cell", { name: "+998712000000" }).waitFor();
  await page.getByRole("row", { name: /Ann Owner/ }).getByRole("button", { name: "Create login" }).click();
  const password = await page.getByTestId("secret").inputValue();
  const username = await page.getByTestId("sip-username").textContent();
  assert.ok(password.length >= 12, "a generated SIP password");
  await shot("settings-telephony");
  await page.getByRole("button", { name: "I have saved it" }).click();
  assert.equal(await page.getByTestId("secret").count(), 0, "the password is not shown again");

  phone = startBaresip(crm.sip, username, password, "127.0.0.6:" + (20000 + Math.floor(Math.random() * 20000)), crm.dir);
  await waitFor("baresip to register, as the page shows", async () => {
    await page.getByRole("button", { name: "Refresh" }).click();
    return (await page.getByTestId("registration").first().textContent()).includes("registered");
  });
});

test("a call from the trunk pops up with the customer, follows the call, and its recording plays", async () => {
  await nav("Customers").click();
  const add = page.getByRole("form", { name: "Add customer" });
  await add.getByLabel("Name").fill("Dilnoza Karimova");
  await add.getByLabel("Phone").fill("90 123 45 67");
  await add.getByRole("button", { name: "Add customer" }).click();
  await page.getByRole("heading", { name: "Dilnoza Karimova" }).waitFor();
  await page.getByText("+998901234567").first().waitFor();
  await nav("Calls").click();

  const call = trunkCall(crm.sip, "+998712000000", crm.dir, 4000);
  const popup = page.getByRole("dialog", { name: "Incoming call" });
  await popup.getByRole("link", { name: "Dilnoza Karimova" }).waitFor();
  await shot("call-popup");
  const result = await call;
  assert.ok(result.ok, `the trunk call went through: ${result.errors}`);
  await waitFor("the pop-up to show the call completed", async () =>
    (await popup.getByTestId("popup-status").textContent()).startsWith("Completed"),
  );
  const timings = await page.evaluate(() => window.crmPopupTimings);
  const ringing = timings.find((t) => t.status === "RINGING");
  assert.ok(ringing, "the ringing event reached the page");
  metrics.popupLatencyMs = ringing.shownAt - Date.parse(ringing.startedAt);
  console.log(`pop-up latency (call started -> shown in the page): ${metrics.popupLatencyMs} ms`);
  assert.ok(metrics.popupLatencyMs < 300, `the pop-up showed within 300 ms (${metrics.popupLatencyMs} ms)`);

  await page.getByRole("list", { name: "Calls" }).getByRole("link").first().click();
  await page.getByTestId("call-status").filter({ hasText: "Completed" }).waitFor();
  const player = page.getByTestId("recording");
  await player.waitFor({ timeout: 30_000 });
  // The trunk sent no audio, the agent's phone a tone: the agent's (lower) half has it alone.
  const bars = await player
    .locator("rect")
    .evaluateAll((rects) => rects.map((r) => [Number(r.getAttribute("y")), Number(r.getAttribute("height"))]));
  const loudest = (lower) => Math.max(...bars.filter(([y]) => (y >= 1) === lower).map(([, h]) => h));
  assert.ok(loudest(true) > 0.5, `the waveform shows the agent's tone (${loudest(true)})`);
  assert.ok(loudest(false) < 0.05, `and silence from the trunk (${loudest(false)})`);
  const audio = player.locator("audio");
  await audio.evaluate((a) => a.play());
  await waitFor("the recording to play", () => audio.evaluate((a) => a.currentTime > 0.5));
  const box = await player.getByRole("slider").boundingBox();
  await page.mouse.click(box.x + box.width * 0.75, box.y + box.height / 2);
  const [position, length] = await audio.evaluate((a) => [a.currentTime, a.duration]);
  assert.ok(Math.abs(position - length * 0.75) < 0.6, `seeking by the waveform (${position} of ${length})`);
  await audio.evaluate((a) => a.pause());
  await shot("calls");
});

test("a Telegram message appears in the inbox live, and the reply reaches Telegram", async () => {
  await nav("Settings").click();
  await page.getByRole("link", { name: "Channels" }).click();
  const form = page.getByRole("form", { name: "Connect a channel" });
  await form.getByLabel("Name").fill("Support bot");
  await form.getByLabel("Bot token (from @BotFather)").fill("123456789:AAE-browser_token");
  await form.getByRole("button", { name: "Connect a channel" }).click();
  await page.getByRole("cell", { name: /Support bot/ }).waitFor();
  const hook = telegram.requests.find((r) => r.method === "setWebhook");
  assert.ok(hook?.body.secret_token, "the webhook was set with a secret");

  await nav("Chats").click();
  await page.getByText("No conversations here.").waitFor();
  const update = {
    update_id: 1001,
    message: {
      message_id: 77,
      date: Math.floor(Date.now() / 1000),
      text: "Salom! Is my order ready?",
      chat: { id: 1111111, type: "private", first_name: "Bobur", username: "bobur_t" },
      from: { id: 1111111, is_bot: false, first_name: "Bobur", username: "bobur_t" },
    },
  };
  const delivered = await fetch(hook.body.url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": hook.body.secret_token },
    body: JSON.stringify(update),
  });
  assert.equal(delivered.status, 200);
  const row = page.getByRole("list", { name: "Chats" }).getByRole("link", { name: /Bobur/ });
  await row.waitFor();
  assert.match(await row.textContent(), /1/, "an unread badge");
  await row.click();
  await page.getByText("Salom! Is my order ready?").waitFor();
  await page.getByLabel("Write a reply").fill("Yes, it is ready: come by after 5 pm.");
  await page.getByRole("button", { name: "Send" }).click();
  await page.getByTestId("delivery").filter({ hasText: "Delivered" }).waitFor();
  const sent = await waitFor("Telegram to receive the reply", () => telegram.requests.find((r) => r.method === "sendMessage"));
  assert.equal(String(sent.body.chat_id), "1111111");
  assert.equal(sent.body.text, "Yes, it is ready: come by after 5 pm.");

  // A file from the agent's computer goes up to the CRM, and Telegram is given its link.
  const pdf = Buffer.from("%PDF-1.4 the invoice");
  await page.getByLabel("Attach a file").setInputFiles({ name: "Invoice 12.pdf", mimeType: "application/pdf", buffer: pdf });
  await page.getByTestId("attached").filter({ hasText: "Invoice 12.pdf" }).waitFor();
  await page.getByRole("button", { name: "Send" }).click();
  const document = await waitFor("Telegram to be sent the document", () =>
    telegram.requests.find((r) => r.method === "sendDocument"),
  );
  const fetched = await fetch(document.body.document);
  assert.equal(Buffer.from(await fetched.arrayBuffer()).toString(), pdf.toString(), "Telegram can fetch the file");
  await waitFor("both replies delivered", async () => (await page.getByTestId("delivery").filter({ hasText: "Delivered" }).count()) === 2);
  await shot("chats");
});

test("the dashboard counts today's call and chat, and updates live", async () => {
  await nav("Dashboard").click();
  const figure = (label) => page.getByRole("group", { name: label, exact: true }).locator(".figure-value");
  await waitFor("today's figures", async () => (await figure("Answered rate").textContent()) === "100%");
  assert.equal(await figure("Calls").textContent(), "1");
  assert.equal(await figure("Open chats").textContent(), "1");
  // A second customer writes while the dashboard is open: it changes without a reload.
  const hook = telegram.requests.find((r) => r.method === "setWebhook");
  const update = {
    update_id: 1002,
    message: {
      message_id: 78,
      date: Math.floor(Date.now() / 1000),
      text: "Hello, do you deliver to Samarkand?",
      chat: { id: 2222222, type: "private", first_name: "Aziz" },
      from: { id: 2222222, is_bot: false, first_name: "Aziz" },
    },
  };
  const delivered = await fetch(hook.body.url, {
    method: "POST",
    headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": hook.body.secret_token },
    body: JSON.stringify(update),
  });
  assert.equal(delivered.status, 200);
  await waitFor("the dashboard to show two open chats", async () => (await figure("Open chats").textContent()) === "2");
  await shot("dashboard-live");
});

test("customers are found by any phone format, merged, and imported from CSV with progress", async () => {
  await nav("Customers").click();
  await page.getByLabel("Search by name, phone, email or username").fill("8 (90) 123-45-67");
  await page.getByRole("list", { name: "Customers" }).getByRole("link", { name: /Dilnoza Karimova/ }).waitFor();
  await page.getByLabel("Search by name, phone, email or username").fill("");

  const add = page.getByRole("form", { name: "Add customer" });
  await add.getByLabel("Name").fill("Dilnoza K. (from the website)");
  await add.getByLabel("Phone").fill("+998 90 123 45 67");
  await add.getByRole("button", { name: "Add customer" }).click();
  await page.getByRole("heading", { name: "Dilnoza K. (from the website)" }).waitFor();
  await page.getByRole("list", { name: "Possible duplicates" }).getByRole("link", { name: "Dilnoza Karimova" }).click();
  await page.getByRole("heading", { name: "Dilnoza Karimova" }).waitFor();
  // The card has the call (with its recording) in its history.
  await page.getByRole("list", { name: "History" }).getByText("Completed").waitFor();
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Merge into this card" }).click();
  await page.getByText(/Dilnoza K\. \(from the website\): 0 calls/).waitFor();
  await page.getByRole("form", { name: "Add note" }).getByLabel("Note").fill("Prefers calls after 5 pm");
  await page.getByRole("button", { name: "Add note" }).click();
  await page.getByRole("list", { name: "History" }).getByText("Prefers calls after 5 pm").waitFor();
  await shot("customer-card");

  // Click-to-call: the CRM rings Ann's phone (baresip answers), then the customer through Kerio.
  await page.getByRole("button", { name: "Call +998901234567" }).click();
  await page.getByText("Your phone is ringing…").waitFor();
  await nav("Calls").click();
  const outbound = page.getByRole("list", { name: "Calls" }).getByRole("link", { name: /Outbound/ });
  await outbound.first().waitFor();
  await waitFor("the customer to answer", async () => /Answered|Completed/.test(await outbound.first().textContent()));

  await page.goto(`${crm.url}/import`);
  const csv = "Name,Phone,Email\nOlim Hasanov,+998 93 555 11 22,olim@example.uz\nNo Phone Person,not a phone,\nMalika,90 777 66 55,\n";
  await page.getByLabel("CSV file").setInputFiles({ name: "leads.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  assert.equal(await page.getByLabel("Where Phone goes").inputValue(), "phone");
  await page.getByRole("button", { name: "Import", exact: true }).click();
  const status = page.getByTestId("import-status");
  await status.getByText(/3 of 3 rows: 2 created, 1 rejected · done/).waitFor();
  await status.getByRole("cell", { name: "3" }).waitFor();
  await shot("import");
});

test("the app speaks Russian and Uzbek, with dates in the company's zone", async () => {
  for (const [language, calls, customers] of [
    ["Русский", "Звонки", "Клиенты"],
    ["Oʻzbekcha", "Qoʻngʻiroqlar", "Mijozlar"],
  ]) {
    await page.getByLabel(/Language|Язык|Til/).first().selectOption({ label: language });
    const main = page.getByRole("navigation").first();
    await main.getByRole("link", { name: calls }).click();
    await page.getByRole("heading", { name: calls }).waitFor();
    await main.getByRole("link", { name: customers }).click();
    await page.getByRole("heading", { name: customers }).waitFor();
    const text = await page.locator("main").innerText();
    for (const english of ["Search by name", "Add customer", "Import CSV", "customers"]) {
      assert.ok(!text.includes(english), `no English "${english}" in ${language}`);
    }
    await main.getByRole("link").first().click();
    await page.locator(".figure").first().waitFor();
    await shot(`dashboard-${language === "Русский" ? "ru" : "uz"}`);
  }
  await page.getByLabel(/Til/).first().selectOption({ label: "English" });
});

test("an API token is shown once, and webhooks are set up in Settings", async () => {
  await page.goto(`${crm.url}/settings/integrations`);
  const tokenForm = page.getByRole("form", { name: "Create API token" });
  await tokenForm.getByLabel("Name").fill("Zapier");
  await tokenForm.getByRole("button", { name: "Create API token" }).click();
  const secret = await page.getByTestId("secret").inputValue();
  const calls = await fetch(`${crm.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
    body: JSON.stringify({ query: "{ calls(first: 5) { totalCount } }" }),
  }).then((r) => r.json());
  assert.equal(calls.data.calls.totalCount, 2, "the token reads calls (the inbound one and the click-to-call)");
  await page.getByRole("button", { name: "I have saved it" }).click();
  await page.getByRole("cell", { name: "Zapier" }).waitFor();
  assert.equal(await page.getByText(secret).count(), 0, "the secret is not shown again");
  const hookForm = page.getByRole("form", { name: "Add webhook" });
  await hookForm.getByLabel("URL").fill("https://hooks.example.com/crm");
  await hookForm.getByRole("button", { name: "Add webhook" }).click();
  assert.match(await page.getByTestId("secret").inputValue(), /^whsec_/);
  await page.getByRole("button", { name: "I have saved it" }).click();
  await page.getByText("https://hooks.example.com/crm").waitFor();
  await shot("settings-integrations");
});

test("an invited agent joins, and does not see admin settings", async () => {
  await page.goto(`${crm.url}/settings/team`);
  const form = page.getByRole("form", { name: "Invite a teammate" });
  await form.getByLabel("Your name").fill("Bob Agent");
  await form.getByLabel("Email").fill("bob@acme.test");
  await form.getByRole("button", { name: "Invite a teammate" }).click();
  const link = await page.getByTestId("invite-link").inputValue();

  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const agent = globalThis.watch(await context.newPage());
  await agent.goto(link);
  await agent.getByLabel("Choose a password (at least 10 characters)").fill("bobs long password");
  await agent.getByRole("button", { name: "Join the team" }).click();
  await agent.getByRole("link", { name: "Chats" }).waitFor();
  assert.equal(await agent.getByRole("link", { name: "Settings" }).count(), 0, "agents have no settings");
  await agent.goto(`${crm.url}/settings/telephony`);
  await agent.getByRole("heading", { name: "Dashboard" }).waitFor();
  await agent.screenshot({ path: join(screenshots, "agent-phone.png"), fullPage: true });
  await agent.getByRole("button", { name: "Log out" }).click();
  await agent.waitForURL("**/login");
  await context.close();
});

test("the session was refreshed without the user noticing, and no console error", async () => {
  assert.notEqual(await token(), firstToken, "the 12 s access token was replaced while the tests ran");
  assert.equal(await page.getByRole("alert").count(), 0, "no error on the screen");
  assert.deepEqual(problems, []);
});
