// Drives the reference web client in headless Chromium (Debian's package, driven by playwright-core):
// sign in, find a clinician for the client's state, book their first slot, check in, chat live.
// Usage: GATEWAY_URL=http://127.0.0.1:8080 EMAIL=... PASSWORD=... STATE=CA node journey.mjs <screenshot.png>
import { chromium } from "playwright-core";

const gateway = process.env.GATEWAY_URL;
const screenshot = process.argv[2] ?? "journey.png";
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
const steps = [];
try {
  const page = await browser.newPage();
  const status = page.locator("#status");
  await page.goto(gateway, { waitUntil: "load" });
  await page.fill("#email", process.env.EMAIL);
  await page.fill("#password", process.env.PASSWORD);
  await page.click("#sign-in-button");
  await status.filter({ hasText: "Signed in." }).waitFor({ timeout: 20000 });
  steps.push("signed in");

  await page.selectOption("#state", { label: process.env.STATE ?? "CA" });
  await page.click("#search-button");
  const firstClinician = page.locator("#results .result").first();
  await firstClinician.waitFor({ timeout: 30000 });
  steps.push(`found ${await page.locator("#results .result").count()} clinicians`);

  await firstClinician.locator(".see-times").click();
  const firstSlot = page.locator("#slots .slot").first();
  await firstSlot.waitFor({ timeout: 20000 });
  await firstSlot.click();
  await status.filter({ hasText: "Booked." }).waitFor({ timeout: 20000 });
  steps.push("booked");

  await page.click("#check-in-button");
  await status.filter({ hasText: /Checked in|Not possible/ }).waitFor({ timeout: 20000 });
  steps.push(`check-in: ${await status.textContent()}`);

  await page.locator("#chat").waitFor({ state: "visible", timeout: 20000 });
  const text = process.env.MESSAGE ?? "Hello from the browser";
  await page.fill("#chat-text", text);
  await page.click("#chat-send");
  await page.locator("#chat-log .message", { hasText: text }).waitFor({ timeout: 30000 });
  steps.push("message delivered on the live stream");
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ok: true, steps }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, steps, error: String(error) }));
  process.exitCode = 1;
} finally {
  await browser.close();
}
