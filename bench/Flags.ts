/**
 * The benchmark's command-line flags. Plain parsing: a bad flag is one line on stderr and exit code 2
 * (the caller's job), never a stack trace.
 *
 * @since 0.1.0
 */

/**
 * The benchmark's settings. MX's own durations (aggregation, MFA timeout, the 3 s polls) are MX time,
 * `timeScale` times faster than real time; the network (latency, rate limit) is real time.
 *
 * @since 0.1.0
 * @category models
 */
export interface Flags {
  /** Members driven to completion. */
  readonly members: number
  /** Members per MX user (at most one MFA member per user: MX refuses identical credentials). */
  readonly membersPerUser: number
  /** Sandbox latency per request, real milliseconds (the network is not time-scaled). */
  readonly latencyMs: number
  /** How long one aggregation takes at MX, MX seconds. */
  readonly aggregationSeconds: number
  /**
   * Requests per real second allowed to the client (the MxClient's `requestsPerSecond`). The client
   * keeps its rate window, timeouts and retry delays on the real clock even inside the worker's
   * MX-time activities, so the rate limit, like the network, is not time-scaled.
   */
  readonly rateLimit: number
  /** Requests in flight at once (the MxClient's `maxConcurrency`). */
  readonly concurrency: number
  /** Share of members whose MX Bank password is `challenge` (one TEXT MFA round, answered `correct`). */
  readonly mfaShare: number
  /** MX seconds per real second, for the sandbox and the worker alike. */
  readonly timeScale: number
  /** Seeds the sandbox's guids and data. */
  readonly seed: string
  /**
   * The worker's `maxConcurrentRuns`, and how many members the naive loop handles at once. Default
   * 100: runs share one CPU, so more runs in flight only make each run slower once the worker is
   * CPU-bound (an MFA challenge can then expire at MX before it is answered), and a thousand fibers
   * queued on the MX client's semaphore cost more than the work itself (see README).
   */
  readonly maxRuns: number
  /** Give up on a phase after this many real seconds and report what is stuck. */
  readonly timeoutSeconds: number
  /** The sandbox sends MX's webhooks to the worker's webhook listener (wake-ups of polling runs). */
  readonly webhooks: boolean
  /** Run the naive baseline too. */
  readonly naive: boolean
  /** Run the worker phase. */
  readonly worker: boolean
  /** Print the result as JSON too (for recording). */
  readonly json: boolean
}

/**
 * A flag that could not be parsed: its message is the one line to print.
 *
 * @since 0.1.0
 * @category errors
 */
export class FlagError extends Error {
  override readonly name = "FlagError"
}

/**
 * Parses the command line with `parse`: prints `usage` and exits 0 on `--help`, prints the one line
 * of a `FlagError` (prefixed with the script's `name`) and exits 2 on a bad flag.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseOrExit = <F>(
  name: string,
  parse: (argv: ReadonlyArray<string>) => F | "help",
  usage: string
): F => {
  try {
    const parsed = parse(process.argv.slice(2))
    if (parsed === "help") {
      console.log(usage)
      return process.exit(0)
    }
    return parsed
  } catch (error) {
    if (!(error instanceof FlagError)) throw error
    console.error(`${name}: ${error.message}`)
    return process.exit(2)
  }
}

/**
 * The usage text.
 *
 * @since 0.1.0
 * @category constants
 */
export const usage = `usage: tsx bench/throughput.ts [--members 1000] [--members-per-user 10] [--latency 100]
       [--aggregation-seconds 30] [--rate-limit 50] [--concurrency 10] [--mfa-share 0.1] [--time-scale 10]
       [--seed 1] [--max-runs 100] [--timeout 600] [--webhooks] [--no-naive | --naive-only] [--json]

  --members N              members driven to completion (default 1000)
  --members-per-user K     members per MX user (default 10)
  --latency MS             sandbox latency per request, real milliseconds (default 100)
  --aggregation-seconds S  how long MX takes to aggregate a member, MX seconds (default 30)
  --rate-limit RPS         client rate limit, requests per real second (default 50)
  --concurrency C          client requests in flight at once (default 10)
  --mfa-share X            share 0..1 of members with a TEXT MFA challenge (default 0.1)
  --time-scale T           MX seconds per real second (default 10)
  --seed S                 sandbox seed (default 1)
  --max-runs R             worker maxConcurrentRuns, and members the naive loop runs at once (default 100)
  --timeout SECONDS        give up on a phase after this many real seconds (default 600)
  --webhooks               the sandbox sends MX webhooks to the worker (polls woken early)
  --no-naive               skip the naive baseline; --naive-only skips the worker
  --json                   also print the results as one JSON line`

const valued = [
  "members",
  "members-per-user",
  "latency",
  "aggregation-seconds",
  "rate-limit",
  "concurrency",
  "mfa-share",
  "time-scale",
  "seed",
  "max-runs",
  "timeout"
] as const

const booleans = ["webhooks", "no-naive", "naive-only", "json", "help"] as const

/**
 * The range a numeric flag must be in.
 *
 * @since 0.1.0
 * @category parsing
 */
export interface NumberCheck {
  readonly integer?: boolean
  readonly min: number
  readonly max?: number
  readonly exclusiveMin?: boolean
}

/**
 * The number given to `--name`, or `fallback` when the flag is absent. Throws `FlagError` when the
 * value is not a number in range.
 *
 * @since 0.1.0
 * @category parsing
 */
export const number = (
  raw: ReadonlyMap<string, string>,
  name: string,
  fallback: number,
  check: NumberCheck
): number => {
  const text = raw.get(name)
  if (text === undefined) return fallback
  const value = Number(text)
  const tooLow = check.exclusiveMin === true ? value <= check.min : value < check.min
  if (
    text.trim() === "" || !Number.isFinite(value) || tooLow || (check.max !== undefined && value > check.max) ||
    (check.integer === true && !Number.isInteger(value))
  ) {
    const kind = check.integer === true ? "an integer" : "a number"
    const range = check.max !== undefined
      ? `between ${check.min} and ${check.max}`
      : `${check.exclusiveMin === true ? ">" : ">="} ${check.min}`
    throw new FlagError(`--${name} must be ${kind} ${range}, got "${text}"`)
  }
  return value
}

/**
 * Splits `argv` into flags: `--name value` or `--name=value` for the `valued` names, `--name` alone
 * for the `booleans` (their value is `"true"`). Throws `FlagError` on an unknown flag, a stray
 * argument or a missing value; returns `"help"` for `-h`, or for `--help` when `booleans` lists it.
 *
 * @since 0.1.0
 * @category parsing
 */
export const split = (
  argv: ReadonlyArray<string>,
  valued: ReadonlyArray<string>,
  booleans: ReadonlyArray<string>
): Map<string, string> | "help" => {
  const raw = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "-h") return "help"
    if (!arg.startsWith("--")) throw new FlagError(`unexpected argument "${arg}" (see --help)`)
    const eq = arg.indexOf("=")
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    if (booleans.includes(name)) {
      if (eq !== -1) throw new FlagError(`--${name} takes no value`)
      raw.set(name, "true")
      continue
    }
    if (!valued.includes(name)) throw new FlagError(`unknown flag --${name} (see --help)`)
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
    if (value === undefined || (eq === -1 && value.startsWith("--"))) throw new FlagError(`--${name} needs a value`)
    raw.set(name, value)
  }
  return raw.has("help") ? "help" : raw
}

/**
 * What the sandbox child and its population are made of (see `SandboxProcess.settingsFor`).
 *
 * @since 0.1.0
 * @category models
 */
export type SandboxFlags = Pick<
  Flags,
  "members" | "membersPerUser" | "latencyMs" | "aggregationSeconds" | "mfaShare" | "timeScale" | "seed"
>

/**
 * Reads the flags of `SandboxFlags` (`--members`, `--members-per-user`, `--latency`,
 * `--aggregation-seconds`, `--mfa-share`, `--time-scale`, `--seed`), shared by the benchmarks.
 *
 * @since 0.1.0
 * @category parsing
 */
export const sandbox = (
  raw: ReadonlyMap<string, string>,
  defaults: { readonly members: number; readonly membersPerUser: number }
): SandboxFlags => {
  const seed = raw.get("seed") ?? "1"
  if (seed.trim() === "") throw new FlagError("--seed must not be empty")
  return {
    members: number(raw, "members", defaults.members, { integer: true, min: 1, max: 100_000 }),
    membersPerUser: number(raw, "members-per-user", defaults.membersPerUser, { integer: true, min: 1, max: 1000 }),
    latencyMs: number(raw, "latency", 100, { min: 0, max: 60_000 }),
    aggregationSeconds: number(raw, "aggregation-seconds", 30, { min: 0, max: 86_400, exclusiveMin: true }),
    mfaShare: number(raw, "mfa-share", 0.1, { min: 0, max: 1 }),
    timeScale: number(raw, "time-scale", 10, { min: 1, max: 10_000 }),
    seed
  }
}

/**
 * Parses `process.argv.slice(2)`. Throws `FlagError` on an unknown flag, a missing value or a value
 * out of range; returns `"help"` for `--help`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (argv: ReadonlyArray<string>): Flags | "help" => {
  const raw = split(argv, valued, booleans)
  if (raw === "help") return "help"
  if (raw.has("no-naive") && raw.has("naive-only")) {
    throw new FlagError("--no-naive and --naive-only exclude each other")
  }
  return {
    ...sandbox(raw, { members: 1000, membersPerUser: 10 }),
    rateLimit: number(raw, "rate-limit", 50, { min: 0, max: 100_000, exclusiveMin: true }),
    concurrency: number(raw, "concurrency", 10, { integer: true, min: 1, max: 10_000 }),
    maxRuns: number(raw, "max-runs", 100, { integer: true, min: 1, max: 100_000 }),
    timeoutSeconds: number(raw, "timeout", 600, { min: 0, max: 86_400, exclusiveMin: true }),
    webhooks: raw.has("webhooks"),
    naive: !raw.has("no-naive"),
    worker: !raw.has("naive-only"),
    json: raw.has("json")
  }
}
