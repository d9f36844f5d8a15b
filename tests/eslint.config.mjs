// ESLint for every JavaScript file of the repository (run from the root by
// scripts/lint.sh: eslint -c tests/eslint.config.mjs). It lives here because
// the test dependencies (tests/package.json) hold the tools.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    ignores: ["**/node_modules/**", "build*/**", "js/wasm/**", "js/src/generated/**", "js/dist/**", "**/*.d.ts"],
  },
  js.configs.recommended,
  {
    files: ["**/*.js", "**/*.mjs", "**/*.cjs"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      // The package runs in Node, browsers and workerd; tests and scripts in Node.
      globals: { ...globals.node, ...globals.browser, ...globals.worker },
    },
    rules: {
      "no-unused-vars": [
        "error",
        { args: "after-used", argsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true },
      ],
      "no-constant-condition": ["error", { checkLoops: false }],
      // `catch {}` where a failure is expected and harmless (closing twice, a
      // cleanup in a test) says so by its place; other empty blocks are errors.
      "no-empty": ["error", { allowEmptyCatch: true }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      "no-var": "error",
      "prefer-const": ["error", { destructuring: "all" }],
    },
  },
  {
    // workerd's runtime globals.
    files: ["examples/cloudflare-worker/**", "tests/workerd/**"],
    languageOptions: { globals: { WebSocketPair: "readonly", WebSocketRequestResponsePair: "readonly" } },
  },
  {
    // page.evaluate bodies run in the page, where the test installs `t`.
    files: ["tests/browser/**"],
    languageOptions: { globals: { t: "readonly" } },
  },
  {
    files: ["**/*.cjs"],
    languageOptions: { sourceType: "commonjs" },
  },
];
