/**
 * Who may read `GET /metrics`. The metrics name members' backlog, MX error rates and run outcomes, and
 * every scrape runs queries on the store: beyond the machine's loopback interface the endpoint needs a
 * bearer token (`WORKER_METRICS_TOKEN`, Prometheus' `authorization: { credentials: … }`), and once a
 * token is set it is required on every interface.
 *
 * @since 0.1.0
 */
import { Data, Redacted } from "effect"
import { createHash, timingSafeEqual } from "node:crypto"
import { isIPv4, isIPv6 } from "node:net"

/**
 * The shortest token accepted: 16 characters.
 *
 * @since 0.1.0
 * @category constants
 */
export const minimumTokenLength = 16

/**
 * Whether a listen host only accepts connections from this machine: `localhost`, `127.0.0.0/8` or
 * `::1` (also as an IPv4-mapped address). Anything else, `0.0.0.0`, `::` and host names included, may
 * face a network.
 *
 * @since 0.1.0
 * @category rules
 */
export const isLoopback = (host: string): boolean => {
  const name = host.trim().toLowerCase().replace(/^\[(.*)\]$/, "$1")
  if (name === "localhost") return true
  if (isIPv4(name)) return name.startsWith("127.")
  if (!isIPv6(name)) return false
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(name)
  if (mapped !== null) return mapped[1]!.startsWith("127.")
  return /^(0{1,4}:){7}0{0,3}1$|^::1$/.test(name)
}

/**
 * A metrics endpoint that would face a network without a token.
 *
 * @since 0.1.0
 * @category errors
 */
export class MetricsTokenRequired extends Data.TaggedError("MetricsTokenRequired")<{ readonly host: string }> {
  override get message() {
    return `WORKER_METRICS_TOKEN must be set when metrics listen beyond loopback (WORKER_METRICS_HOST is ${this.host})`
  }
}

/**
 * The rule: a token, unless the endpoint listens on loopback only.
 *
 * @since 0.1.0
 * @category rules
 */
export const checkExposure = (
  host: string,
  token: Redacted.Redacted<string> | undefined
): MetricsTokenRequired | undefined =>
  token === undefined && !isLoopback(host) ? new MetricsTokenRequired({ host }) : undefined

const digest = (value: string) => createHash("sha256").update(value).digest()

/**
 * A check of an `Authorization` header against the token: `Bearer <token>` (the scheme in any case).
 * Both sides are hashed first, so the comparison takes the same time whatever the header's length or
 * content, and the token's length does not leak either.
 *
 * @since 0.1.0
 * @category rules
 */
export const bearerMatches = (token: Redacted.Redacted<string>): (header: string | undefined) => boolean => {
  const expected = digest(Redacted.value(token))
  return (header) => {
    const given = header === undefined ? undefined : /^bearer[ \t]+(.*?)[ \t]*$/i.exec(header)?.[1]
    // A missing or malformed header still goes through the comparison: no early exit to time.
    const matches = timingSafeEqual(digest(given ?? ""), expected)
    return given !== undefined && given.length > 0 && matches
  }
}
