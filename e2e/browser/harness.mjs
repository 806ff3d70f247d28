// What the browser tests run against: a real `crm serve` on SQLite (the quick start's
// defaults), a local stand-in for Telegram's Bot API that records every request, and the
// real SIP peers (sipp as the Kerio trunk, baresip as the agent's phone).
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createServer as createNetServer } from "node:net";
import { createSocket } from "node:dgram";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const root = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
const require = createRequire(join(root, "frontend/package.json"));
export const { chromium } = require("playwright-core");

export async function freePort(host = "127.0.0.1") {
  return new Promise((done, fail) => {
    const server = createNetServer();
    server.on("error", fail);
    server.listen(0, host, () => {
      const { port } = server.address();
      server.close(() => done(port));
    });
  });
}

export async function freeUdpPort(host) {
  return new Promise((done) => {
    const socket = createSocket("udp4");
    socket.bind(0, host, () => {
      const { port } = socket.address();
      socket.close(() => done(port));
    });
  });
}

/** Polls `check` until it returns something truthy; fails with `what` after `ms`. */
export async function waitFor(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Telegram's Bot API as documented, for the endpoints the CRM calls; keeps every request. */
export async function startTelegram() {
  const requests = [];
  let sent = 0;
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk) => (raw += chunk));
    req.on("end", () => {
      let body = {};
      try {
        body = raw ? JSON.parse(raw) : {};
      } catch {
        body = { raw };
      }
      const method = req.url.split("?")[0].split("/").pop();
      requests.push({ method, path: req.url, body });
      const reply = (value) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: true, result: value }));
      };
      if (method === "getMe") return reply({ id: 123456789, is_bot: true, first_name: "Acme", username: "acme_bot" });
      if (method === "setWebhook" || method === "deleteWebhook") return reply(true);
      if (method === "sendMessage" || method === "sendPhoto" || method === "sendDocument") {
        sent += 1;
        return reply({ message_id: 5000 + sent, date: Math.floor(Date.now() / 1000), chat: { id: Number(body.chat_id), type: "private" }, text: body.text });
      }
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: false, error_code: 404, description: "Not Found" }));
    });
  });
  const port = await freePort();
  await new Promise((r) => server.listen(port, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${port}`, requests, close: () => server.close() };
}

/** `crm serve` with the quick start's embedded defaults in a fresh folder. */
export async function startCrm(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), "crm-browser-"));
  const httpPort = await freePort();
  const sipPort = await freeUdpPort("127.0.0.1");
  const bin = process.env.CRM_BIN ?? resolve(root, process.env.CARGO_TARGET_DIR ?? "target", "debug/crm");
  const env = {
    ...process.env,
    CRM_DATA_DIR: join(dir, "data"),
    CRM_HTTP_ADDR: `127.0.0.1:${httpPort}`,
    CRM_PUBLIC_URL: `http://127.0.0.1:${httpPort}`,
    CRM_SIP_ADDR: `127.0.0.1:${sipPort}`,
    CRM_SIP_RTP_PORTS: "41000-41998",
    CRM_FRONTEND_DIR: join(root, "frontend/dist"),
    CRM_LOG_LEVEL: "warn",
    ...extraEnv,
  };
  const child = spawn(bin, ["serve"], { env, stdio: ["ignore", "inherit", "inherit"] });
  let failed = null;
  child.on("error", (error) => (failed = `${bin}: ${error.message} (build it: cargo build --bin crm)`));
  const url = `http://127.0.0.1:${httpPort}`;
  await waitFor("crm serve to answer /readyz", async () => {
    if (failed) throw new Error(failed);
    if (child.exitCode !== null) throw new Error(`crm serve exited with ${child.exitCode}`);
    return fetch(`${url}/readyz`).then((r) => r.ok, () => false);
  }, 60_000);
  return { url, sip: `127.0.0.1:${sipPort}`, dir, stop: () => child.kill("SIGTERM") };
}

/** baresip registered with `user`/`password`, answering at once, a 1 kHz tone as its microphone. */
export function startBaresip(sip, user, password, listen, dir) {
  const home = join(dir, `baresip-${user}`);
  mkdirSync(home, { recursive: true });
  writeFileSync(join(home, "mic.wav"), toneWav(1000, 30));
  writeFileSync(
    join(home, "config"),
    [
      `sip_listen ${listen}`,
      `audio_source aufile,${join(home, "mic.wav")}`,
      "audio_player aubridge,nil",
      "audio_alert aubridge,nil",
      "audio_srate 8000",
      "audio_channels 1",
      "module_path /usr/lib/baresip/modules",
      "module g711.so",
      "module aufile.so",
      "module aubridge.so",
      "module account.so",
      "module menu.so",
      "rtp_ports 49000-49998",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(home, "accounts"),
    `<sip:${user}@${sip};transport=udp>;auth_pass=${password};answermode=auto;regint=300;audio_codecs=PCMA,PCMU\n`,
  );
  const child = spawn("baresip", ["-f", home], { stdio: "ignore" });
  return { stop: () => child.kill("SIGTERM") };
}

/** A mono 16-bit 8 kHz WAV of a sine tone. */
function toneWav(freq, seconds) {
  const samples = 8000 * seconds;
  const buffer = Buffer.alloc(44 + samples * 2);
  buffer.write("RIFF", 0);
  buffer.writeUInt32LE(36 + samples * 2, 4);
  buffer.write("WAVEfmt ", 8);
  buffer.writeUInt32LE(16, 16);
  buffer.writeUInt16LE(1, 20);
  buffer.writeUInt16LE(1, 22);
  buffer.writeUInt32LE(8000, 24);
  buffer.writeUInt32LE(16000, 28);
  buffer.writeUInt16LE(2, 32);
  buffer.writeUInt16LE(16, 34);
  buffer.write("data", 36);
  buffer.writeUInt32LE(samples * 2, 40);
  for (let n = 0; n < samples; n++) buffer.writeInt16LE(Math.round(9000 * Math.sin((2 * Math.PI * freq * n) / 8000)), 44 + n * 2);
  return buffer;
}

/** One sipp call from the "Kerio" trunk at 127.0.0.2 to `number`, held for `holdMs`. */
export async function trunkCall(sip, number, dir, holdMs = 3000, source = "127.0.0.2") {
  const scenario = join(dir, `trunk-call-${source}.xml`);
  writeFileSync(scenario, TRUNK_CALL.replace("HOLD", String(holdMs)));
  const port = await freeUdpPort(source);
  return new Promise((done) => {
    const child = spawn(
      "sipp",
      [sip, "-sf", scenario, "-s", number, "-i", source, "-p", String(port), "-m", "1", "-timeout", "30s", "-timeout_error", "-nostdin"],
      { cwd: dir, stdio: ["ignore", "ignore", "pipe"] },
    );
    let errors = "";
    child.stderr.on("data", (chunk) => (errors += chunk));
    child.on("exit", (code) => done({ ok: code === 0, errors }));
  });
}

/** Kerio's trunk places a call, holds it `HOLD` ms once answered, and hangs up (no RTP). */
const TRUNK_CALL = readFileSync(join(root, "e2e/sipp/answered-call.xml"), "utf8");

/** A browser page that records console errors and uncaught exceptions. */
export async function openBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CRM_CHROMIUM ?? "/usr/bin/chromium",
    args: ["--autoplay-policy=no-user-gesture-required", "--no-sandbox"],
  });
  const problems = [];
  const watch = (page) => {
    page.on("console", (m) => m.type() === "error" && problems.push(`console: ${m.text()}`));
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    return page;
  };
  return { browser, problems, watch };
}

export const screenshots = join(root, "e2e/output/screenshots");
mkdirSync(screenshots, { recursive: true });

/** The app's strings in `language` (en, ru, uz), read from frontend/src/i18n, by key. */
export function strings(language) {
  const source = readFileSync(join(root, `frontend/src/i18n/${language}.ts`), "utf8");
  const table = {};
  for (const [, key, value] of source.matchAll(/^\s+"([^"]+)": "((?:[^"\\]|\\.)*)",$/gm)) table[key] = value;
  return (key, values = {}) => {
    if (!(key in table)) throw new Error(`no string ${key} in ${language}`);
    return table[key].replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  };
}

/** sipp as the far end of click-to-call calls (the customer, behind Kerio): answers them. */
export function startSippAnswering(ip, port, dir) {
  const child = spawn("sipp", ["-sn", "uas", "-i", ip, "-p", String(port), "-nostdin"], {
    cwd: dir,
    stdio: "ignore",
  });
  return { stop: () => child.kill("SIGTERM") };
}
