/**
 * The dependency arrows of ARCHITECTURE.md, checked over the source files' imports (static, type-only
 * and dynamic `import()`, read from each file's syntax tree):
 *
 * - `domain` imports no package of ours and, of the outside world, `effect` alone;
 * - `mx-api -> domain`, `mx-sandbox -> domain`, `store -> domain`;
 * - `worker -> store, mx-api, domain`; nothing imports the worker;
 * - the worker reaches the simulator (`mx-sandbox`) only for the embedded demo and the CLI's
 *   `sandbox` command: from the daemon's entry point (`main.ts`) and the library's (`index.ts`),
 *   following static imports, no module imports `@mx-aggregation/mx-sandbox`.
 */
import { assert, describe, it } from "@effect/vitest"
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { fileURLToPath } from "node:url"
import ts from "typescript"

const root = fileURLToPath(new URL("../../", import.meta.url))

/** Our packages and where their sources are. */
const packages = {
  domain: "packages/domain/src",
  "mx-api": "packages/mx-api/src",
  "mx-sandbox": "packages/mx-sandbox/src",
  store: "packages/store/src",
  worker: "apps/worker/src"
} as const
type Package = keyof typeof packages

/** What each package may import of ours (DESIGN's arrows). */
const allowed: Record<Package, ReadonlyArray<Package>> = {
  domain: [],
  "mx-api": ["domain"],
  "mx-sandbox": ["domain"],
  store: ["domain"],
  worker: ["store", "mx-api", "domain", "mx-sandbox"]
}

interface Import {
  readonly specifier: string
  readonly kind: "static" | "type" | "dynamic"
}

/** The imports of a source file: declarations, re-exports and `import()` calls. */
const importsOf = (file: string): ReadonlyArray<Import> => {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true)
  const found: Array<Import> = []
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause
      const typeOnly = clause !== undefined && (clause.isTypeOnly || (
        clause.name === undefined && clause.namedBindings !== undefined &&
        ts.isNamedImports(clause.namedBindings) && clause.namedBindings.elements.length > 0 &&
        clause.namedBindings.elements.every((element) => element.isTypeOnly)
      ))
      found.push({ specifier: node.moduleSpecifier.text, kind: typeOnly ? "type" : "static" })
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, kind: node.isTypeOnly ? "type" : "static" })
    } else if (
      ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined && ts.isStringLiteral(node.arguments[0])
    ) {
      found.push({ specifier: node.arguments[0].text, kind: "dynamic" })
    } else if (
      ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)
    ) {
      found.push({ specifier: node.argument.literal.text, kind: "type" })
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

const sourceFiles = (dir: string): ReadonlyArray<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return /\.ts$/.test(name) && !name.endsWith(".d.ts") ? [path] : []
  })

/** The package of ours a specifier names, if any. */
const packageOf = (specifier: string): Package | undefined => {
  const match = /^@mx-aggregation\/([^/]+)/.exec(specifier)
  return match !== null && match[1]! in packages ? match[1] as Package : undefined
}

/** Every import of every source file of each package. */
const graph = Object.entries(packages).flatMap(([pkg, dir]) =>
  sourceFiles(join(root, dir)).map((file) => ({ pkg: pkg as Package, file, imports: importsOf(file) }))
)

const where = (file: string) => relative(root, file)

describe("the dependency arrows", () => {
  it("the import reader sees static, type-only and dynamic imports (the graph below cannot pass empty)", () => {
    const daemon = graph.find((f) => f.file.endsWith("apps/worker/src/Daemon.ts"))!
    assert.deepInclude(daemon.imports, { specifier: "./Demo.js", kind: "dynamic" })
    assert.deepInclude(daemon.imports, { specifier: "@mx-aggregation/mx-api", kind: "static" })
    const sandboxCommand = graph.find((f) => f.file.endsWith("apps/worker/src/cli/SandboxCommand.ts"))!
    assert.deepInclude(sandboxCommand.imports, { specifier: "@mx-aggregation/mx-sandbox", kind: "type" })
    assert.isAtLeast(graph.length, 100)
  })

  it("each package imports only the packages of ours its arrows allow; nothing imports the worker", () => {
    const wrong = graph.flatMap(({ file, imports, pkg }) =>
      imports.flatMap(({ specifier }) => {
        const target = packageOf(specifier)
        if (target === undefined || target === pkg) return []
        return allowed[pkg].includes(target) ? [] : [`${where(file)} -> ${specifier}`]
      })
    )
    assert.deepStrictEqual(wrong, [])
  })

  it("the domain imports `effect` alone from outside (no @effect/platform, no Node)", () => {
    const outside = graph.filter(({ pkg }) => pkg === "domain").flatMap(({ file, imports }) =>
      imports.filter(({ specifier }) => !specifier.startsWith(".") && !/^effect(\/|$)/.test(specifier))
        .map(({ specifier }) => `${where(file)} -> ${specifier}`)
    )
    assert.deepStrictEqual(outside, [])
  })

  it("from main.ts and index.ts, following static imports, no worker module imports the simulator", () => {
    const byFile = new Map(graph.map((f) => [f.file, f]))
    const reached = new Set<string>()
    const loadsSandbox: Array<string> = []
    const visit = (file: string) => {
      if (reached.has(file)) return
      reached.add(file)
      for (const { kind, specifier } of byFile.get(file)?.imports ?? []) {
        if (kind !== "static") continue
        if (packageOf(specifier) === "mx-sandbox") loadsSandbox.push(`${where(file)} -> ${specifier}`)
        if (specifier.startsWith(".")) visit(resolve(dirname(file), specifier.replace(/\.js$/, ".ts")))
      }
    }
    const worker = join(root, packages.worker)
    visit(join(worker, "main.ts"))
    visit(join(worker, "index.ts"))
    assert.deepStrictEqual(loadsSandbox, [])
    assert.isTrue(reached.has(join(worker, "Daemon.ts")), "the walk reaches the daemon")
    assert.isFalse(reached.has(join(worker, "Demo.ts")), "the demo is loaded by import() only")
    // And the demo does load it: the rule above is about a real arrow.
    const demo = byFile.get(join(worker, "Demo.ts"))!
    assert.isTrue(
      demo.imports.some(({ kind, specifier }) => kind === "static" && packageOf(specifier) === "mx-sandbox")
    )
  })
})
