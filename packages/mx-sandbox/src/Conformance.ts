/**
 * Checks the sandbox's responses against MX's OpenAPI document (v20111101): the status must be one
 * the spec declares for the operation (plus the 204 the spec's text promises for challenges) and
 * the body must validate against the declared response schema, with no field the schema does not
 * have. Errors (not described by the spec) must have the sandbox's documented shape
 * `{"error": {"message": "…"}}`.
 *
 * The spec's known errors (MX-REFERENCE §4) are corrected before validation: MemberResponse's
 * `most_recent_job_guid` and `most_recent_job_detail_text` are declared boolean but are strings
 * (`JOB-…`, a message) in MX's answers and in its SDK.
 *
 * Test tooling: it needs the dev dependencies `ajv`, `ajv-formats` and `yaml`, so it is not
 * exported from the package index; import `@mx-aggregation/mx-sandbox/Conformance`.
 *
 * @since 0.1.0
 */
import { Ajv, type ValidateFunction } from "ajv"
import addFormats from "ajv-formats"
import { parse } from "yaml"
import type { Exchange } from "./Options.js"

type Json = Record<string, any>

/**
 * A checker of exchanges.
 *
 * @since 0.1.0
 * @category models
 */
export interface Validator {
  /** The problems of one exchange; empty when it conforms. */
  readonly check: (exchange: Exchange) => ReadonlyArray<string>
  /** The operationIds the spec defines. */
  readonly operations: ReadonlySet<string>
}

const errorSchema = {
  type: "object",
  required: ["error"],
  additionalProperties: false,
  properties: {
    error: {
      type: "object",
      required: ["message"],
      additionalProperties: false,
      properties: { message: { type: "string" } }
    }
  }
}

/** Operations whose description (not `responses`) promises a 204. */
const documented204: ReadonlySet<string> = new Set(["listMemberChallenges"])

const methods = ["get", "put", "post", "delete", "patch"] as const

/**
 * Makes every object schema closed (`additionalProperties: false`) so an extra field fails, and
 * merges `allOf` object parts (resolving component references) so closing them stays correct.
 */
const closeSchema = (schema: unknown, components: Json): unknown => {
  if (Array.isArray(schema)) return schema.map((item) => closeSchema(item, components))
  if (typeof schema !== "object" || schema === null) return schema
  const source = schema as Json
  if (Array.isArray(source.allOf)) {
    const properties: Json = {}
    let nullable = false
    for (const part of source.allOf as Array<Json>) {
      const resolved: Json = typeof part.$ref === "string"
        ? components[(part.$ref as string).split("/").pop()!]
        : part
      Object.assign(properties, resolved.properties ?? {})
      nullable = nullable || resolved.nullable === true
    }
    return closeSchema({ type: "object", properties, ...(nullable ? { nullable } : {}) }, components)
  }
  const out: Json = {}
  for (const [key, value] of Object.entries(source)) {
    if (key === "properties") {
      out.properties = Object.fromEntries(
        Object.entries(value as Json).map(([name, sub]) => [name, closeSchema(sub, components)])
      )
    } else if (key === "items" || key === "additionalProperties") {
      out[key] = closeSchema(value, components)
    } else {
      out[key] = value
    }
  }
  if (out.properties !== undefined && out.additionalProperties === undefined) out.additionalProperties = false
  return out
}

/**
 * A validator for the given OpenAPI document text (YAML or JSON).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (specText: string): Validator => {
  const spec = parse(specText) as Json
  const components: Json = structuredClone(spec.components.schemas)
  // MX-REFERENCE §4: declared boolean, sent as strings.
  components.MemberResponse.properties.most_recent_job_guid = { type: "string", nullable: true }
  components.MemberResponse.properties.most_recent_job_detail_text = { type: "string", nullable: true }
  const closed: Json = {}
  for (const [name, schema] of Object.entries(components)) closed[name] = closeSchema(schema, components)

  const ajv = new Ajv({ strict: false, allErrors: true })
  addFormats.default(ajv)
  ajv.addSchema({ $id: "mx", components: { schemas: closed } })
  const validateError = ajv.compile(errorSchema)

  const responses = new Map<string, Json>()
  for (const item of Object.values(spec.paths as Json)) {
    for (const method of methods) {
      const operation = (item as Json)[method] as Json | undefined
      if (operation?.operationId !== undefined) responses.set(operation.operationId, operation.responses ?? {})
    }
  }

  const validators = new Map<string, ValidateFunction>()
  const validatorFor = (ref: string): ValidateFunction => {
    let validate = validators.get(ref)
    if (validate === undefined) {
      validate = ajv.compile({ $ref: `mx${ref}` })
      validators.set(ref, validate)
    }
    return validate
  }

  const parseBody = (body: string): { ok: true; value: unknown } | { ok: false } => {
    try {
      return { ok: true, value: JSON.parse(body) }
    } catch {
      return { ok: false }
    }
  }

  const check = (exchange: Exchange): ReadonlyArray<string> => {
    const where = `${exchange.method} ${exchange.url} -> ${exchange.status}`
    if (exchange.operationId.startsWith("sandbox.")) return []
    if (exchange.status >= 400) {
      const parsed = parseBody(exchange.body)
      if (!parsed.ok) return [`${where}: error body is not JSON`]
      return validateError(parsed.value)
        ? []
        : [`${where}: error body ${ajv.errorsText(validateError.errors)}`]
    }
    if (exchange.operationId === "unknown") return [`${where}: a success without a route`]
    const declared = responses.get(exchange.operationId)
    if (declared === undefined) return [`${where}: ${exchange.operationId} is not an operation of the spec`]
    if (exchange.status === 204) {
      const allowed = declared["204"] !== undefined || documented204.has(exchange.operationId)
      const problems: Array<string> = []
      if (!allowed) problems.push(`${where}: 204 is not a response of ${exchange.operationId}`)
      if (exchange.body !== "") problems.push(`${where}: a 204 with a body`)
      return problems
    }
    const response = declared[String(exchange.status)] as Json | undefined
    if (response === undefined) return [`${where}: ${exchange.status} is not a response of ${exchange.operationId}`]
    const [mediaType, content] = Object.entries((response.content ?? {}) as Json)[0] ?? []
    if (mediaType === undefined) return exchange.body === "" ? [] : [`${where}: the spec declares no body`]
    const problems: Array<string> = []
    if (exchange.contentType !== mediaType) {
      problems.push(`${where}: content type ${exchange.contentType}, the spec says ${mediaType}`)
    }
    const parsed = parseBody(exchange.body)
    if (!parsed.ok) return [...problems, `${where}: body is not JSON`]
    const ref = (content as Json).schema?.$ref as string | undefined
    if (ref === undefined) return problems
    const validate = validatorFor(ref)
    if (!validate(parsed.value)) problems.push(`${where}: ${ajv.errorsText(validate.errors)}`)
    return problems
  }

  return { check, operations: new Set(responses.keys()) }
}
