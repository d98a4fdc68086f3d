/**
 * A strict reader of Prometheus' text format (0.0.4), for tests of the metrics endpoint: parse a
 * scrape, then sum samples by name and labels.
 *
 * @since 0.1.0
 */
import { Data, Either } from "effect"

/**
 * A sample of the Prometheus text: one line `name{labels} value`.
 *
 * @since 0.1.0
 * @category prometheus text
 */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

/**
 * A parsed Prometheus exposition: the metric families declared by `# TYPE` and the samples.
 *
 * @since 0.1.0
 * @category prometheus text
 */
export interface Exposition {
  readonly types: ReadonlyMap<string, string>
  readonly samples: ReadonlyArray<Sample>
}

/**
 * The Prometheus text is malformed at `line`.
 *
 * @since 0.1.0
 * @category prometheus text
 */
export class PrometheusTextError extends Data.TaggedError("PrometheusTextError")<{
  readonly line: number
  readonly message: string
}> {}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const metricTypes = new Set([
  "counter",
  "gauge",
  "histogram",
  "summary",
  "untyped",
  "info",
  "stateset",
  "gaugehistogram"
])

const parseValue = (text: string): number | undefined => {
  if (text === "+Inf" || text === "Inf") return Infinity
  if (text === "-Inf") return -Infinity
  if (text === "NaN") return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) return undefined
  return Number(text)
}

/** Parses `{a="x",b="y"}` from `start` (at `{`); returns the labels and the index after `}`. */
const parseLabels = (line: string, start: number): { labels: Record<string, string>; end: number } | string => {
  const labels: Record<string, string> = {}
  let i = start + 1
  while (true) {
    while (line[i] === " ") i++
    if (line[i] === "}") return { labels, end: i + 1 }
    const eq = line.indexOf("=", i)
    if (eq < 0) return "a label without `=`"
    const name = line.slice(i, eq).trim()
    if (!labelName.test(name)) return `invalid label name ${JSON.stringify(name)}`
    if (line[eq + 1] !== "\"") return `the value of label ${name} is not quoted`
    let value = ""
    let j = eq + 2
    for (; j < line.length && line[j] !== "\""; j++) {
      if (line[j] === "\\") {
        const next = line[++j]
        value += next === "n" ? "\n" : next ?? ""
      } else {
        value += line[j]
      }
    }
    if (j >= line.length) return `the value of label ${name} is not terminated`
    if (name in labels) return `label ${name} repeated`
    labels[name] = value
    i = j + 1
    if (line[i] === ",") i++
    else if (line[i] !== "}") return `unexpected ${JSON.stringify(line[i] ?? "end of line")} after label ${name}`
  }
}

const familyOf = (name: string, types: ReadonlyMap<string, string>): string | undefined => {
  if (types.has(name)) return name
  for (const suffix of ["_bucket", "_sum", "_count", "_total", "_created", "_info"]) {
    if (name.endsWith(suffix) && types.has(name.slice(0, -suffix.length))) return name.slice(0, -suffix.length)
  }
  return undefined
}

/**
 * Parses Prometheus' text format (0.0.4) strictly: every sample belongs to a family declared by a
 * `# TYPE` line, names and labels are well formed, values are numbers, and histogram buckets are
 * cumulative with a `+Inf` bucket equal to `_count`.
 *
 * @since 0.1.0
 * @category prometheus text
 */
export const parse = (text: string): Either.Either<Exposition, PrometheusTextError> => {
  const types = new Map<string, string>()
  const samples: Array<Sample> = []
  const lines = text.split("\n")
  for (let index = 0; index < lines.length; index++) {
    const fail = (message: string) => Either.left(new PrometheusTextError({ line: index + 1, message }))
    const line = lines[index]!.trim()
    if (line === "") continue
    if (line.startsWith("#")) {
      const [, keyword, name, ...rest] = line.split(/\s+/)
      if (keyword === "TYPE") {
        if (name === undefined || !metricName.test(name)) return fail(`invalid metric name in TYPE`)
        const type = rest[0]
        if (type === undefined || !metricTypes.has(type)) return fail(`unknown metric type ${type}`)
        if (types.has(name)) return fail(`TYPE of ${name} declared twice`)
        types.set(name, type)
      } else if ((keyword === "HELP" || keyword === "UNIT") && (name === undefined || !metricName.test(name))) {
        return fail(`invalid metric name in ${keyword}`)
      }
      continue
    }
    const brace = line.indexOf("{")
    const space = line.indexOf(" ")
    const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space
    if (nameEnd <= 0) return fail("a sample without a value")
    const name = line.slice(0, nameEnd)
    if (!metricName.test(name)) return fail(`invalid metric name ${JSON.stringify(name)}`)
    let labels: Record<string, string> = {}
    let rest = line.slice(nameEnd)
    if (line[nameEnd] === "{") {
      const parsed = parseLabels(line, nameEnd)
      if (typeof parsed === "string") return fail(parsed)
      labels = parsed.labels
      rest = line.slice(parsed.end)
    }
    const [valueText, timestamp, ...extra] = rest.trim().split(/\s+/)
    const value = valueText === undefined ? undefined : parseValue(valueText)
    if (value === undefined) return fail(`invalid value ${JSON.stringify(valueText)} of ${name}`)
    if (extra.length > 0 || (timestamp !== undefined && !/^-?\d+$/.test(timestamp))) {
      return fail(`unexpected text after the value of ${name}`)
    }
    if (familyOf(name, types) === undefined) return fail(`sample ${name} has no TYPE`)
    samples.push({ name, labels, value })
  }
  // Histogram buckets: cumulative, ending with +Inf = _count.
  for (const [family, type] of types) {
    if (type !== "histogram") continue
    const series = new Map<string, Array<Sample>>()
    for (const sample of samples) {
      if (sample.name !== `${family}_bucket`) continue
      const { le: _le, ...rest } = sample.labels
      const key = JSON.stringify(Object.entries(rest).sort())
      series.set(key, [...(series.get(key) ?? []), sample])
    }
    for (const [key, buckets] of series) {
      const sorted = [...buckets].sort((a, b) => parseValue(a.labels["le"] ?? "")! - parseValue(b.labels["le"] ?? "")!)
      const fail = (message: string) => Either.left(new PrometheusTextError({ line: 0, message }))
      if (sorted.some((b, i) => i > 0 && b.value < sorted[i - 1]!.value)) {
        return fail(`${family} buckets not cumulative`)
      }
      const inf = sorted[sorted.length - 1]
      if (inf?.labels["le"] !== "+Inf") return fail(`${family} has no +Inf bucket`)
      const count = samples.find((s) =>
        s.name === `${family}_count` && JSON.stringify(Object.entries(s.labels).sort()) === key
      )
      if (count === undefined || count.value !== inf.value) return fail(`${family}_count differs from its +Inf bucket`)
    }
  }
  return Either.right({ types, samples })
}

/**
 * The sum of the samples named `name` whose labels include `labels` (0 when there is none).
 *
 * @since 0.1.0
 * @category prometheus text
 */
export const sumOf = (
  exposition: Exposition,
  name: string,
  labels: Readonly<Record<string, string>> = {}
): number =>
  exposition.samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((total, s) => total + s.value, 0)
