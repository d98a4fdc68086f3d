/**
 * The command-line flags of `bench/scale.ts`. Plain parsing: a bad flag is one line on stderr and exit
 * code 2 (see `Flags.parseOrExit`), never a stack trace.
 *
 * @since 0.1.0
 */
import * as Flags from "../Flags.js"
import * as Population from "../Population.js"

/**
 * The settings of a scale run. MX's own durations are MX time (`timeScale` times faster than real
 * time); the network and the rate limit are real time.
 *
 * @since 0.1.0
 * @category models
 */
export interface ScaleFlags extends Flags.SandboxFlags {
  /** One phase per entry, each with this many worker replicas (fresh database, fresh sandbox). */
  readonly replicas: ReadonlyArray<number>
  /**
   * MX requests per real second for the whole fleet. MX limits a client (one client id), not a
   * process: each replica gets `floor(rateLimit / replicas)` as its own `MX_RATE_LIMIT`, and the
   * sandbox enforces `rateLimit` over all of them (429 above it).
   */
  readonly rateLimit: number
  /** MX requests in flight at once, per replica (`MX_MAX_CONCURRENCY`). */
  readonly concurrency: number
  /**
   * Runs in flight per replica. The scheduler (one, a cluster singleton) caps the runs of the whole
   * fleet, so it is given `maxRuns × replicas` (`WORKER_MAX_CONCURRENT_RUNS`).
   */
  readonly maxRuns: number
  /** Give up on a phase after this many real seconds and report what is unfinished. */
  readonly timeoutSeconds: number
  /** A PostgreSQL server on which each phase creates its own database (else `PG_URL`, else an embedded one). */
  readonly databaseUrl: string | undefined
  /** Print the results as one JSON line too. */
  readonly json: boolean
}

/**
 * The usage text.
 *
 * @since 0.1.0
 * @category constants
 */
export const usage = `usage: tsx bench/scale.ts [--members 10000] [--members-per-user 10] [--replicas 1,3]
       [--rate-limit 60] [--concurrency 10] [--max-runs 100] [--time-scale 10] [--aggregation-seconds 30]
       [--latency 100] [--mfa-share 0.1] [--timeout 10800] [--seed 1] [--database-url URL] [--json]

  --members N              members driven to completion in each phase (default 10000)
  --members-per-user K     members per MX user (default 10; at least members x mfa-share users, one MFA
                           member each). Discovery lists the users' members one user after the other, and
                           no run starts meanwhile: many users slow everything down (see bench/README.md)
  --replicas LIST          worker replicas per phase, comma-separated; one phase per entry (default 1,3)
  --rate-limit RPS         MX requests per real second for the whole fleet (default 60); MX's limit is
                           per client, so each replica gets RPS/replicas, and the sandbox enforces RPS
  --concurrency C          MX requests in flight per replica (default 10)
  --max-runs R             runs in flight per replica (default 100)
  --time-scale T           MX seconds per real second (default 10)
  --aggregation-seconds S  how long MX takes to aggregate a member, MX seconds (default 30)
  --latency MS             sandbox latency per request, real milliseconds (default 100)
  --mfa-share X            share 0..1 of members with a TEXT MFA challenge (default 0.1)
  --timeout SECONDS        give up on a phase after this many real seconds (default 10800)
  --seed S                 sandbox seed (default 1)
  --database-url URL       PostgreSQL server to create each phase's database on (default: PG_URL, else
                           an embedded PostgreSQL started for the run)
  --json                   also print the results as one JSON line`

const valued = [
  "members",
  "members-per-user",
  "replicas",
  "rate-limit",
  "concurrency",
  "max-runs",
  "time-scale",
  "aggregation-seconds",
  "latency",
  "mfa-share",
  "timeout",
  "seed",
  "database-url"
] as const

const booleans = ["json", "help"] as const

/**
 * Users' guids go to every replica in one environment variable (`WORKER_USERS`, 41 bytes a guid),
 * and Linux refuses a single variable over 128 KiB.
 */
const maxUsers = 3000

const replicaList = (raw: ReadonlyMap<string, string>): ReadonlyArray<number> => {
  const text = raw.get("replicas") ?? "1,3"
  const list = text.split(",").map((part) => part.trim())
  const counts = list.map(Number)
  if (list.some((part) => part === "") || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 16)) {
    throw new Flags.FlagError(`--replicas must be a comma-separated list of integers between 1 and 16, got "${text}"`)
  }
  return counts
}

/**
 * Parses `process.argv.slice(2)`. Throws `Flags.FlagError` on an unknown flag, a missing value or a
 * value out of range; returns `"help"` for `--help`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (argv: ReadonlyArray<string>): ScaleFlags | "help" => {
  const raw = Flags.split(argv, valued, booleans)
  if (raw === "help") return "help"
  const sandbox = Flags.sandbox(raw, { members: 10_000, membersPerUser: 10 })
  const replicas = replicaList(raw)
  const rateLimit = Flags.number(raw, "rate-limit", 60, { integer: true, min: 1, max: 100_000 })
  const most = Math.max(...replicas)
  if (rateLimit < most) {
    throw new Flags.FlagError(
      `--rate-limit must be at least the largest replica count (${most}): each gets 1/s or more`
    )
  }
  const users = Population.users(sandbox).length
  if (users > maxUsers) {
    throw new Flags.FlagError(
      `${users} users do not fit in WORKER_USERS (at most ${maxUsers}): raise --members-per-user`
    )
  }
  const databaseUrl = raw.get("database-url")
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/\S+$/i.test(databaseUrl)) {
    throw new Flags.FlagError("--database-url must be a postgres:// URL")
  }
  return {
    ...sandbox,
    replicas,
    rateLimit,
    concurrency: Flags.number(raw, "concurrency", 10, { integer: true, min: 1, max: 10_000 }),
    maxRuns: Flags.number(raw, "max-runs", 100, { integer: true, min: 1, max: 100_000 }),
    timeoutSeconds: Flags.number(raw, "timeout", 10_800, { min: 0, max: 86_400, exclusiveMin: true }),
    databaseUrl,
    json: raw.has("json")
  }
}

/**
 * The rate limit each replica of a phase gets: an equal, whole share of the fleet's (MX_RATE_LIMIT is
 * an integer).
 *
 * @since 0.1.0
 * @category figures
 */
export const rateLimitPerReplica = (flags: ScaleFlags, replicas: number): number =>
  Math.floor(flags.rateLimit / replicas)
