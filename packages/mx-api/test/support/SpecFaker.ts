/**
 * Responses generated from MX's own OpenAPI spec (v20111101, `vendor/mx-openapi/mx_platform_api.yml`)
 * by json-schema-faker. The spec is OpenAPI 3.0, whose schemas are not quite JSON Schema: this module
 * inlines the `$ref`s and turns `nullable: true` into a `null` type (and a `null` enum member), and
 * leaves every other keyword as MX wrote it. `example` values are dropped, so the values are the
 * generator's, not the spec's examples.
 */
import { generateSync, type JsonSchema } from "json-schema-faker"
import { readFileSync } from "node:fs"
import { parse } from "yaml"

type OpenApiSchema = Record<string, unknown>

interface OpenApiOperation {
  readonly operationId: string
  readonly responses: Record<string, { readonly content?: Record<string, { readonly schema: OpenApiSchema }> }>
}

/** The spec, parsed once. */
export const spec = parse(
  readFileSync(new URL("../../../../vendor/mx-openapi/mx_platform_api.yml", import.meta.url), "utf8")
) as {
  readonly paths: Record<string, Record<string, OpenApiOperation>>
  readonly components: { readonly schemas: Record<string, OpenApiSchema> }
}

const refName = (ref: string) => ref.split("/").at(-1)!

/** An OpenAPI 3.0 schema as JSON Schema 2020-12, its `$ref`s inlined (MX's responses are not recursive). */
export const toJsonSchema = (schema: OpenApiSchema, seen: ReadonlySet<string> = new Set()): JsonSchema => {
  if (typeof schema.$ref === "string") {
    const name = refName(schema.$ref)
    if (seen.has(name)) throw new Error(`recursive $ref ${name}`)
    return toJsonSchema(spec.components.schemas[name]!, new Set([...seen, name]))
  }
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) {
    switch (key) {
      case "nullable":
      case "example":
      case "description":
        break
      case "properties":
        out.properties = Object.fromEntries(
          Object.entries(value as Record<string, OpenApiSchema>).map(([name, property]) => [
            name,
            toJsonSchema(property, seen)
          ])
        )
        break
      case "items":
        out.items = toJsonSchema(value as OpenApiSchema, seen)
        break
      case "allOf":
      case "anyOf":
      case "oneOf":
        out[key] = (value as ReadonlyArray<OpenApiSchema>).map((part) => toJsonSchema(part, seen))
        break
      default:
        out[key] = value
    }
  }
  if (schema.nullable === true) {
    if (typeof schema.type === "string") out.type = [schema.type, "null"]
    if (Array.isArray(schema.enum) && !schema.enum.includes(null)) out.enum = [...schema.enum, null]
  }
  return out as JsonSchema
}

/** An operation of the spec by its operationId: method, path, and its 2xx responses. */
export const operation = (operationId: string) => {
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (op.operationId !== operationId) continue
      const responses = Object.entries(op.responses)
        .filter(([code]) => code.startsWith("2"))
        .map(([code, response]) => {
          const content = response.content === undefined ? undefined : Object.values(response.content)[0]
          return {
            status: Number(code),
            schema: content === undefined ? undefined : toJsonSchema(content.schema)
          }
        })
      return {
        method: method.toUpperCase(),
        pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, "[^/]+")}$`),
        responses
      }
    }
  }
  throw new Error(`no operation ${operationId} in the spec`)
}

/**
 * How the generator is varied from one response to the next: how likely each optional property is
 * (the spec requires none), and how long arrays may be.
 */
const variants = [
  { optionalsProbability: 0.25, maxDefaultItems: 3 },
  { optionalsProbability: 0.6, maxDefaultItems: 4 },
  { optionalsProbability: 0.9, maxDefaultItems: 5 },
  { optionalsProbability: 1, alwaysFakeOptionals: true, maxDefaultItems: 3 }
] as const

const guidPresent = (row: JsonSchema): JsonSchema => {
  if (typeof row !== "object") return row
  if (row.allOf !== undefined) return { ...row, allOf: row.allOf.map(guidPresent) }
  if (row.properties?.guid === undefined) return row
  return {
    ...row,
    properties: { ...row.properties, guid: { type: "string", minLength: 1 } },
    required: [...(row.required ?? []), "guid"]
  }
}

/**
 * The body schema with its object present: the envelope's `key` required and the object's (or each
 * row's) `guid` a non-empty string. MX's spec requires neither, and the responses generated from it
 * as it is often lack one or the other (which the client refuses or leaves out, as it should); this
 * variant lets the other fields be exercised as often.
 */
export const withIdentity = (body: JsonSchema, key: string): JsonSchema => {
  if (typeof body !== "object" || body.properties?.[key] === undefined) return body
  const inner = body.properties[key]!
  const present = typeof inner === "object" && inner.type === "array" && inner.items !== undefined
    ? { ...inner, items: guidPresent(inner.items), minItems: 1 }
    : guidPresent(inner)
  return {
    ...body,
    properties: { ...body.properties, [key]: present },
    required: [...(body.required ?? []), key]
  }
}

/**
 * The `index`-th response of a schema: deterministic, from seed `seed + index`, with the variants
 * taken in turn by pairs of indexes (so that a caller alternating two schemas meets every variant
 * with both).
 */
export const generate = (schema: JsonSchema, seed: number, index: number): unknown =>
  generateSync(schema, { seed: seed + index, ...variants[Math.floor(index / 2) % variants.length] })
