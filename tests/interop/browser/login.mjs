// A real browser (Debian's chromium, driven by the pinned playwright-core) on the OIDC facade's login page, while
// the xid wallet (the `xid` command) answers the presentation the page shows.
//
// stdin: {"loginUrl", "acceptLanguage": "ja"|"en", "screenshot": "path.png", "callbackPrefix": "http://127.0.0.1:port/cb" (the test's callback server),
//         "wallet": ["xid", ...argv before the request URL], "walletEnv": {...}, "passphrase",
//         "mode": "cross" | "same" | "expired", "consent": "approve" | "deny" | null}
// stdout: {"pageCode", "walletCode", "qrVisible", "qrIsImage", "landed" (the RP callback URL the browser reached),
//          "landedText" (what the callback server answered), "lang", "title", "reason"}   (exit 1 with {"error"} when a step fails)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

import { chromium } from "playwright-core";

const input = JSON.parse(readFileSync(0, "utf8"));
const browser = await chromium.launch({
  executablePath: process.env.XID_CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});

function wallet(requestUrl) {
  const [command, ...args] = input.wallet;
  const out = execFileSync(command, [...args, requestUrl], {
    input: input.passphrase + "\n",
    env: { ...process.env, ...input.walletEnv },
    encoding: "utf8",
    timeout: 120000,
  });
  return JSON.parse(out);
}

const result = {};
try {
  const context = await browser.newContext({
    locale: input.acceptLanguage === "ja" ? "ja-JP" : "en-US",
    extraHTTPHeaders: { "Accept-Language": input.acceptLanguage },
    viewport: { width: 420, height: 900 }, // a phone-sized window
  });
  const page = await context.newPage();
  result.failedRequests = [];
  page.on("requestfailed", (r) => result.failedRequests.push(`${r.method()} ${r.url()} ${r.failure()?.errorText}`));
  await page.goto(input.loginUrl);
  result.lang = await page.getAttribute("html", "lang");
  result.title = await page.title();

  if (input.mode === "expired") {
    result.reason = await page.textContent("#reason");
    result.back = await page.getAttribute("#back", "href");
    await page.screenshot({ path: input.screenshot, fullPage: true });
  } else {
    const qr = page.locator("img.qr");
    await qr.waitFor({ state: "visible" });
    result.qrVisible = await qr.isVisible();
    result.qrIsImage = await qr.evaluate((img) => img.complete && img.naturalWidth > 100);
    result.pageCode = (await page.textContent("#verification-code")).trim();
    const crossUrl = await page.getAttribute("#qr", "data-request-url");
    const sameUrl = await page.getAttribute("#same-device", "href");
    result.sameCodeText = await page.textContent("#same-device-code");
    await page.screenshot({ path: input.screenshot, fullPage: true });

    if (input.mode === "same") {
      const report = wallet(sameUrl);
      result.walletCode = report.verification_code;
      await page.goto(report.redirect_uri); // the wallet hands the same browser back to the OP
    } else {
      const report = wallet(crossUrl);
      result.walletCode = report.verification_code;
    }
    if (input.consent) {
      await page.waitForSelector("#approve", { timeout: 30000 }); // the page moved on by itself (SSE)
      result.consentText = await page.textContent("main");
      await page.click(input.consent === "approve" ? "#approve" : "#deny");
    }
    await page.waitForURL((url) => url.href.startsWith(input.callbackPrefix), { timeout: 30000 });
  }
  result.landed = page.url();
  result.landedText = await page.textContent("body");
  await context.close();
} catch (error) {
  process.stdout.write(JSON.stringify({ error: String(error?.stack || error), partial: result }));
  await browser.close();
  process.exit(1);
}
await browser.close();
process.stdout.write(JSON.stringify(result));
