/**
 * Short MX-style messages for a request body that does not decode: the field named by its path in
 * the body (`member.credentials[0].value must be a string`, `member.institution_code is required`),
 * never the submitted value. Effect Schema's own text prints the value it got ("Expected string,
 * actual …"), which would echo a password or an MFA answer back in the response.
 *
 * @internal
 */
import type { ParseResult } from "effect"
import { SchemaAST as AST } from "effect"

/** Where the first problem is, and what was wrong there. */
interface Problem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly kind: "missing" | "unexpected" | "type"
  readonly ast?: AST.AST | undefined
}

const toArray = (path: ParseResult.Path): ReadonlyArray<PropertyKey> =>
  Array.isArray(path) ? path as ReadonlyArray<PropertyKey> : [path as PropertyKey]

const firstOf = (issues: ParseResult.Composite["issues"]): ParseResult.ParseIssue =>
  Array.isArray(issues) ? issues[0]! : issues as ParseResult.ParseIssue

/** The first leaf problem of a decoding failure, with its path. */
const problem = (issue: ParseResult.ParseIssue, path: ReadonlyArray<PropertyKey>): Problem => {
  switch (issue._tag) {
    case "Pointer":
      return problem(issue.issue, [...path, ...toArray(issue.path)])
    case "Missing":
      return { path, kind: "missing" }
    case "Unexpected":
      return { path, kind: "unexpected" }
    case "Type":
    case "Forbidden":
      return { path, kind: "type", ast: issue.ast }
    case "Refinement":
      return issue.kind === "From" ? problem(issue.issue, path) : { path, kind: "type", ast: issue.ast }
    case "Transformation":
      return problem(issue.issue, path)
    case "Composite": {
      if (AST.isUnion(issue.ast)) {
        // A member of the union that failed deeper (an element of an array, a field of an object) says
        // more than the union: the value had that member's shape.
        const issues = Array.isArray(issue.issues) ? issue.issues : [issue.issues as ParseResult.ParseIssue]
        const nested = issues.find((inner) => inner._tag !== "Type")
        return nested === undefined ? { path, kind: "type", ast: issue.ast } : problem(nested, path)
      }
      return problem(firstOf(issue.issues), path)
    }
  }
}

/** What a value of this type is, in words: "a string", "a boolean", "one of PFM, MONEY_MOVEMENT". */
export const expected = (ast: AST.AST): string => {
  switch (ast._tag) {
    case "StringKeyword":
      return "a string"
    case "NumberKeyword":
      return "a number"
    case "BooleanKeyword":
      return "a boolean"
    case "Literal":
      return ast.literal === null ? "null" : JSON.stringify(ast.literal)
    case "TupleType":
      return "an array"
    case "TypeLiteral":
      return "an object"
    case "Refinement":
      return expected(ast.from)
    case "Transformation":
      return expected(ast.from)
    case "Suspend":
      return expected(ast.f())
    case "Union": {
      // An optional field's `undefined` is a field left out, not a value to send.
      const types = ast.types.filter((type) => !AST.isUndefinedKeyword(type))
      const nullable = types.some((type) => AST.isLiteral(type) && type.literal === null)
      const others = types.filter((type) => !(AST.isLiteral(type) && type.literal === null))
      const allLiterals = others.length > 1 && others.every(AST.isLiteral)
      const text = allLiterals
        ? `one of ${others.map((type) => String((type as AST.Literal).literal)).join(", ")}`
        : others.map(expected).join(" or ")
      return nullable ? `${text} or null` : text
    }
    default:
      return "valid"
  }
}

/** `member.credentials[0].value`: the root wrapper, then object keys and array indexes. */
export const fieldName = (root: string, path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (name, key) => typeof key === "number" ? `${name}[${key}]` : `${name}.${String(key)}`,
    root
  )

/**
 * The message for a body whose `root` object does not decode: the field and what it must be.
 * Never includes the submitted value.
 */
export const decodeFailure = (root: string, error: ParseResult.ParseError): string => {
  const found = problem(error.issue, [])
  const field = fieldName(root, found.path)
  switch (found.kind) {
    case "missing":
      return `${field} is required.`
    case "unexpected":
      return `${field} is not allowed.`
    case "type":
      return `${field} must be ${found.ast === undefined ? "valid" : expected(found.ast)}.`
  }
}
