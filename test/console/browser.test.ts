/**
 * The operator console in a real browser (headless Chromium, the system's `chromium`, driven by
 * playwright-core): the embedded demo as `npm start` runs it (in-process MX sandbox, SQLite, a free
 * port), its printed console URL and token; a wrong token refused, the right one accepted; a TEXT
 * challenge answered from the member's page, OPTIONS and IMAGE_DATA challenges from the challenges
 * page, a DENIED member's credentials updated through the form built from its own credential fields
 * (password inputs, emptied, the values nowhere in the page or the tab's storage); then, without a
 * reload, each of those members shown CONNECTED as the runs progress, the run's statuses and the
 * events of the feed. The members page is saved as a screenshot (`test/artifacts/console-members.png`,
 * and `CONSOLE_SCREENSHOT=<path>` for another copy, e.g. the README's `docs/console.png`).
 *
 * Chromium missing is a failure that says how to install it, never a skip: `.ci/run` installs it.
 */
import { assert, describe, it } from "@effect/vitest"
import { MainLive } from "@mx-aggregation/worker/Daemon"
import { ConfigProvider, Console, Effect, Layer } from "effect"
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { chromium, type Page } from "playwright-core"
import { freePort } from "../support/freePort.js"

/** The browser's globals that the page functions below read (this project compiles without the DOM library). */
declare const document: {
  readonly documentElement: { readonly outerHTML: string }
  querySelector(selector: string): { readonly textContent: string | null } | null
  querySelectorAll(selector: string): Iterable<{ readonly value: string }>
}
declare const sessionStorage: { readonly [key: string]: string }
declare const localStorage: { readonly length: number }

const testRoot = fileURLToPath(new URL("../", import.meta.url))

/** Where the run's screenshot of the members page goes (git-ignored). */
const screenshotFile = join(testRoot, "artifacts", "console-members.png")

/** Every wait for the page: generous, for a loaded 2-core machine (the demo's runs take seconds each). */
const patience = 240_000

/** The system's Chromium: `CHROMIUM_PATH` if set, otherwise the first of `installed` that exists. */
const findChromium = (
  configured: string | undefined,
  installed: ReadonlyArray<string> = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
): string => {
  if (configured !== undefined && configured !== "") {
    if (existsSync(configured)) return configured
    throw new Error(`CHROMIUM_PATH is ${configured}, which does not exist`)
  }
  const found = installed.find((path) => existsSync(path))
  if (found === undefined) {
    throw new Error(
      "Chromium is not installed, and the operator console's browser test needs it: install Debian's " +
        "package (`apt-get install -y chromium`; `.ci/run` does), or set CHROMIUM_PATH to a Chromium binary"
    )
  }
  return found
}

/** The guid of the card (or row) of the challenges page whose challenge is of `type`. */
const cardOf = (page: Page, type: string) =>
  page.locator("article.card", { has: page.locator(".challenge-types .tag", { hasText: new RegExp(`^${type}$`) }) })

/**
 * Waits until every member in `guids` is shown settled CONNECTED in the members table: the status, no
 * aggregation under way, and the next action its run decided (pull the data).
 */
const waitForConnected = (page: Page, guids: ReadonlyArray<string>) =>
  page.waitForFunction(
    (guids) =>
      guids.every((guid) => {
        const row = `tr[data-member="${guid}"]`
        return document.querySelector(`${row}[data-aggregating="false"] [data-field="status"]`)?.textContent ===
            "CONNECTED" &&
          document.querySelector(`${row} [data-field="nextAction"]`)?.textContent === "PullData"
      }),
    guids,
    { timeout: patience, polling: 250 }
  )

/** The whole session in the browser; returns the members it acted on. */
const session = async (page: Page, consoleUrl: string, token: string, password: string) => {
  await page.goto(consoleUrl)
  const tokenInput = page.getByLabel("Token")
  await tokenInput.fill("not-the-token-at-all")
  await page.getByRole("button", { name: "Open the console" }).click()
  await page.getByText("The worker refused this token.").waitFor({ timeout: patience })
  await tokenInput.fill(token)
  await page.getByRole("button", { name: "Open the console" }).click()
  await page.locator(".chip[data-status-class='All']").waitFor({ timeout: patience })

  // A TEXT challenge, answered from the member's own page.
  await page.getByRole("link", { name: /^Challenges/ }).click()
  const text = cardOf(page, "TEXT").first()
  await text.waitFor({ timeout: patience })
  const textMember = (await text.getAttribute("data-member"))!
  await text.getByRole("link", { name: textMember }).click()
  const memberPage = page.locator(`section.member-view[data-member="${textMember}"]`)
  await memberPage.locator("form.challenge-form").waitFor({ timeout: patience })
  await memberPage.getByLabel("What city were you born in?").fill("correct")
  await memberPage.getByRole("button", { name: "Send answers" }).click()
  await memberPage.getByText(`Answers sent for ${textMember}`).waitFor({ timeout: patience })

  // An OPTIONS and an IMAGE_DATA challenge, from the challenges page.
  await page.getByRole("link", { name: /^Challenges/ }).click()
  const options = cardOf(page, "OPTIONS").first()
  await options.waitFor({ timeout: patience })
  const optionsMember = (await options.getAttribute("data-member"))!
  await options.getByLabel("Correct", { exact: true }).check()
  await options.getByRole("button", { name: "Send answers" }).click()
  await page.getByText(`Answers sent for ${optionsMember}`).waitFor({ timeout: patience })
  const image = cardOf(page, "IMAGE_DATA").first()
  await image.waitFor({ timeout: patience })
  const imageMember = (await image.getAttribute("data-member"))!
  assert.match((await image.locator("img.challenge-image").getAttribute("src"))!, /^data:image\//)
  await image.getByLabel("Enter the text shown in the image.").fill("correct")
  await image.getByRole("button", { name: "Send answers" }).click()
  await page.getByText(`Answers sent for ${imageMember}`).waitFor({ timeout: patience })

  // A DENIED member's new credentials, through the form built from its own credential fields.
  await page.getByRole("link", { name: "Members", exact: true }).click()
  const credentialsRequired = page.locator(".chip[data-status-class='CredentialsRequired']")
  await credentialsRequired.waitFor({ timeout: patience })
  await credentialsRequired.click()
  const denied = page.locator("tr[data-member]", { has: page.locator("[data-field='status']", { hasText: "DENIED" }) })
    .first()
  await denied.waitFor({ timeout: patience })
  const deniedMember = (await denied.getAttribute("data-member"))!
  await denied.getByRole("link", { name: deniedMember }).click()
  const form = page.locator(`form.credential-form[data-member="${deniedMember}"]`)
  await form.waitFor({ timeout: patience })
  const username = form.getByLabel("Username")
  const secret = form.getByLabel("Password")
  assert.strictEqual(await username.getAttribute("type"), "password")
  assert.strictEqual(await secret.getAttribute("type"), "password")
  await username.fill("mxuser")
  await secret.fill(password)
  await form.getByRole("button", { name: "Update credentials" }).click()
  await page.getByText(`New credentials sent to MX for ${deniedMember}`).waitFor({ timeout: patience })
  // The form may be gone already (the member's run moved on); wherever it is, no input holds a value.
  const kept = await page.evaluate(() => ({
    html: document.documentElement.outerHTML,
    values: [...document.querySelectorAll("input")].map((input) => input.value),
    session: Object.keys(sessionStorage),
    local: localStorage.length
  }))
  assert.notInclude(kept.html, password, "the credential is nowhere in the page")
  assert.notInclude(kept.values, password, "no input keeps the credential")
  assert.notInclude(kept.values, "mxuser")
  assert.deepStrictEqual(kept.session, ["mx-aggregation.console.token"])
  assert.strictEqual(kept.local, 0)

  // The page follows the runs by itself: each member reaches CONNECTED without a reload.
  const acted = [textMember, optionsMember, imageMember, deniedMember]
  await page.getByRole("link", { name: "Members", exact: true }).click()
  await waitForConnected(page, acted)

  // The answered member's page: its run's statuses; the event feed: its MFA and its data.
  await page.getByRole("link", { name: textMember }).click()
  await page.locator("td.trail", { hasText: /CHALLENGED.*CONNECTED/ }).first().waitFor({ timeout: patience })
  await page.getByRole("link", { name: "this member's events" }).click()
  await page.locator("tr[data-type='mfa_required']").first().waitFor({ timeout: patience })
  await page.locator("tr[data-type='data_updated']").first().waitFor({ timeout: patience })

  // The members page, as a newcomer sees it at the end.
  await page.getByRole("link", { name: "Members", exact: true }).click()
  await waitForConnected(page, acted)
  mkdirSync(dirname(screenshotFile), { recursive: true })
  await page.screenshot({ path: screenshotFile, fullPage: true })
  const copy = process.env["CONSOLE_SCREENSHOT"]
  if (copy !== undefined && copy !== "") {
    const target = resolve(testRoot, "..", copy)
    mkdirSync(dirname(target), { recursive: true })
    copyFileSync(screenshotFile, target)
  }
  return acted
}

describe("operator console in a browser", () => {
  it("a missing Chromium fails the test with how to install it, rather than skipping it", () => {
    assert.throws(() => findChromium(undefined, ["/nonexistent/chromium"]), /apt-get install -y chromium/)
    assert.throws(() => findChromium("/nonexistent/chromium"), /CHROMIUM_PATH is \/nonexistent\/chromium/)
    assert.strictEqual(findChromium(undefined, ["/nonexistent/chromium", process.execPath]), process.execPath)
  })

  it.live(
    "answers TEXT and OPTIONS challenges, updates a DENIED member's credentials, and shows each member CONNECTED",
    () =>
      Effect.gen(function*() {
        const executablePath = findChromium(process.env["CHROMIUM_PATH"])
        const dir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(join(tmpdir(), "mx-console-browser-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )
        const port = yield* freePort
        const printed: Array<string> = []
        const console = yield* Console.consoleWith(Effect.succeed)
        // The demo as `npm start` runs it, with its own configuration only (nothing of the test process's).
        yield* Layer.build(MainLive).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(
            new Map([
              ["SQLITE_FILE", join(dir, "worker.db")],
              ["WORKER_PORT", String(port)],
              ["WORKER_LOG_LEVEL", "Warning"]
            ])
          )),
          Console.withConsole({ ...console, log: (...args) => Effect.sync(() => void printed.push(args.join(" "))) })
        )
        const banner = printed.join("\n")
        const consoleUrl = /console:\s+(http:\/\/\S+)/.exec(banner)?.[1]
        const token = /control API:.*\(Authorization: Bearer ([0-9a-f]{32,})\)/.exec(banner)?.[1]
        assert.strictEqual(consoleUrl, `http://127.0.0.1:${port}/console/`, banner)
        assert.isString(token, banner)

        const browser = yield* Effect.acquireRelease(
          Effect.promise(() => chromium.launch({ executablePath, args: ["--disable-dev-shm-usage"] })),
          (browser) => Effect.promise(() => browser.close())
        )
        const page = yield* Effect.promise(() => browser.newPage({ viewport: { width: 1400, height: 900 } }))
        const problems: Array<string> = []
        page.on("pageerror", (error) => problems.push(`page error: ${error.message}`))
        page.on("console", (message) => {
          // The browser reports every 4xx of the API this way (a member without a pending challenge is a 404).
          if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) {
            problems.push(`console error: ${message.text()}`)
          }
        })
        const password = `console-test-${port}-Secret`
        const acted = yield* Effect.tryPromise({
          try: () => session(page, consoleUrl!, token!, password),
          catch: (error) =>
            new Error(`${String(error)}\n--- the demo printed ---\n${printed.slice(-40).join("\n")}`, { cause: error })
        })
        assert.strictEqual(new Set(acted).size, 4, acted.join(", "))
        assert.isTrue(existsSync(screenshotFile))
        // No script error, and nothing the Content Security Policy refused.
        assert.deepStrictEqual(problems, [])
        assert.isFalse(printed.some((line) => line.includes(password)), "the credential was never printed")
      }).pipe(Effect.scoped),
    { timeout: 600_000 }
  )
})
