// The main flow again in Russian and in Uzbek, found on the page only by the translated
// labels: a company signs up, configures its trunk and a phone, a call pops up and its
// recording plays, a Telegram message is answered, and the customer's card has both.
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  openBrowser,
  screenshots,
  startBaresip,
  startCrm,
  startTelegram,
  strings,
  trunkCall,
  waitFor,
} from "./harness.mjs";

let crm;
let telegram;
let browser;
let problems;
let watch;
const phones = [];

before(async () => {
  telegram = await startTelegram();
  crm = await startCrm({ CRM_TELEGRAM_API_URL: telegram.url });
  ({ browser, problems, watch } = await openBrowser());
});

after(async () => {
  phones.forEach((p) => p.stop());
  await browser?.close();
  crm?.stop();
  telegram?.close();
});

const LANGUAGES = [
  // language, trunk source address, the company's number, the bot's token, the caller's chat
  ["ru", "127.0.0.3", "+998712000003", "111111111:AAE-ru_token", 3333333],
  ["uz", "127.0.0.4", "+998712000004", "222222222:AAE-uz_token", 4444444],
];

for (const [language, source, number, botToken, chat] of LANGUAGES) {
  test(`the whole flow in ${language}`, async () => {
    const t = strings(language);
    const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    await context.addInitScript((lang) => localStorage.setItem("crm.locale", lang), language);
    const page = watch(await context.newPage());
    page.setDefaultTimeout(15_000);
    const nav = (key) => page.getByRole("navigation", { name: t("nav.main") }).getByRole("link", { name: t(key) });

    // Sign up.
    await page.goto(`${crm.url}/signup`);
    await page.getByLabel(t("auth.company")).fill(`Company ${language}`);
    await page.getByLabel(t("auth.name")).fill("Owner");
    await page.getByLabel(t("auth.email")).fill(`owner@${language}.test`);
    await page.getByLabel(t("auth.password")).fill("a long password");
    await page.getByLabel(t("auth.timeZone")).fill("Asia/Tashkent");
    await page.getByRole("button", { name: t("auth.signUp") }).click();
    await page.getByRole("heading", { name: t("nav.dashboard") }).waitFor();

    // The trunk and a phone.
    await nav("nav.settings").click();
    const trunk = page.getByRole("form", { name: t("tel.addTrunk") });
    await trunk.getByLabel(t("tel.name")).fill("Kerio");
    await trunk.getByLabel(t("tel.sourcesLabel")).fill(source);
    await trunk.getByLabel(t("tel.numbersLabel")).fill(number);
    await trunk.getByRole("button", { name: t("tel.addTrunk") }).click();
    await page.getByRole("cell", { name: number }).waitFor();
    await page.getByRole("row", { name: /Owner/ }).getByRole("button", { name: t("tel.createLogin") }).click();
    const password = await page.getByTestId("secret").inputValue();
    const username = await page.getByTestId("sip-username").textContent();
    await page.getByRole("button", { name: t("settings.saved") }).click();
    const listen = `127.0.0.${language === "ru" ? 7 : 8}:${20000 + Math.floor(Math.random() * 20000)}`;
    phones.push(startBaresip(crm.sip, username, password, listen, crm.dir));
    await waitFor("the phone to register", async () => {
      await page.getByRole("button", { name: t("common.refresh") }).click();
      return (await page.getByTestId("registration").first().textContent()).includes(t("tel.online"));
    });

    // A customer, then their call: the pop-up, then the recording.
    await nav("nav.customers").click();
    const add = page.getByRole("form", { name: t("customers.new") });
    await add.getByLabel(t("customers.name")).fill(`Client ${language}`);
    await add.getByLabel(t("customers.phone")).fill("90 123 45 67");
    await add.getByRole("button", { name: t("customers.new") }).click();
    await page.getByRole("heading", { name: `Client ${language}` }).waitFor();
    await nav("nav.calls").click();
    const call = trunkCall(crm.sip, number, crm.dir, 3000, source);
    const popup = page.getByRole("dialog", { name: t("popup.title") });
    await popup.getByRole("link", { name: `Client ${language}` }).waitFor();
    assert.ok((await call).ok, "the trunk call went through");
    await waitFor("the pop-up to show the call completed", async () =>
      (await popup.getByTestId("popup-status").textContent()).startsWith(t("callStatus.COMPLETED")),
    );
    await page.getByRole("list", { name: t("nav.calls") }).getByRole("link").first().click();
    const player = page.getByTestId("recording");
    await player.waitFor({ timeout: 30_000 });
    const audio = player.locator("audio");
    await audio.evaluate((a) => a.play());
    await waitFor("the recording to play", () => audio.evaluate((a) => a.currentTime > 0.5));
    await audio.evaluate((a) => a.pause());

    // A Telegram message, answered.
    await nav("nav.settings").click();
    await page.getByRole("link", { name: t("settings.channels") }).click();
    const connect = page.getByRole("form", { name: t("ch.connect") });
    await connect.getByLabel(t("tel.name")).fill("Bot");
    await connect.getByLabel(t("ch.botToken")).fill(botToken);
    await connect.getByRole("button", { name: t("ch.connect") }).click();
    await page.getByRole("cell", { name: /Bot/ }).first().waitFor();
    const hook = telegram.requests.filter((r) => r.method === "setWebhook" && r.path.includes(botToken)).pop();
    await nav("nav.chats").click();
    await page.getByText(t("chats.none")).waitFor();
    const update = {
      update_id: chat,
      message: {
        message_id: 1,
        date: Math.floor(Date.now() / 1000),
        text: `Salom from ${language}`,
        chat: { id: chat, type: "private", first_name: `Client ${language}` },
        from: { id: chat, is_bot: false, first_name: `Client ${language}` },
      },
    };
    const posted = await fetch(hook.body.url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": hook.body.secret_token },
      body: JSON.stringify(update),
    });
    assert.equal(posted.status, 200);
    await page.getByRole("list", { name: t("nav.chats") }).getByRole("link").first().click();
    await page.getByText(`Salom from ${language}`).waitFor();
    await page.getByLabel(t("chats.reply")).fill(`Reply in ${language}`);
    await page.getByRole("button", { name: t("chats.send") }).click();
    await page.getByTestId("delivery").filter({ hasText: t("delivery.SENT") }).waitFor();
    const sent = await waitFor("Telegram to receive the reply", () =>
      telegram.requests.find((r) => r.method === "sendMessage" && r.body.text === `Reply in ${language}`),
    );
    assert.equal(String(sent.body.chat_id), String(chat));

    // The customer found by phone, with the call on the card.
    await nav("nav.customers").click();
    await page.getByLabel(t("customers.search")).fill("+998 90 123 45 67");
    // The Telegram sender has the same name; the phone search keeps only the caller.
    const found = page.getByRole("list", { name: t("nav.customers") }).getByRole("link", { name: `Client ${language}` });
    await waitFor("the search to keep one customer", async () => (await found.count()) === 1);
    await found.click();
    await page.getByRole("list", { name: t("card.timeline") }).getByText(t("callStatus.COMPLETED")).waitFor();
    await page.screenshot({ path: join(screenshots, `card-${language}.png`), fullPage: true });
    await context.close();
  });
}

test("no console error in either language", () => {
  assert.deepEqual(problems, []);
});
