import effect from "@effect/eslint-plugin"
import tseslint from "typescript-eslint"

export default tseslint.config(
  {
    ignores: ["**/build/**", "**/node_modules/**", "**/data/**", "**/*.d.ts"]
  },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts", "**/*.mjs", "apps/worker/console/**/*.js"],
    plugins: { "@effect": effect },
    rules: {
      "@effect/dprint": ["error", {
        config: {
          indentWidth: 2,
          lineWidth: 120,
          semiColons: "asi",
          quoteStyle: "alwaysDouble",
          trailingCommas: "never",
          operatorPosition: "maintain",
          "arrowFunction.useParentheses": "force"
        }
      }],
      "@typescript-eslint/array-type": ["error", { default: "generic", readonly: "generic" }],
      "@typescript-eslint/consistent-type-imports": ["error", { fixStyle: "inline-type-imports" }],
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }]
    }
  },
  {
    // The operator console: plain ES modules run by the browser. Every global it uses is listed, so that
    // a misspelt name fails here rather than in an operator's browser.
    files: ["apps/worker/console/**/*.js"],
    languageOptions: {
      sourceType: "module",
      globals: Object.fromEntries(
        [
          "clearTimeout",
          "console",
          "document",
          "fetch",
          "location",
          "Node",
          "sessionStorage",
          "setTimeout",
          "URL",
          "URLSearchParams",
          "window"
        ].map((name) => [name, "readonly"])
      )
    },
    rules: { "no-undef": "error" }
  }
)
