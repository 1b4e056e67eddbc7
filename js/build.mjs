// Bundles each widget's front end into src/llm_widgets/static/ (one ESM file + one CSS file each).
import * as esbuild from "esbuild";

const watch = process.argv.includes("--watch");
const options = {
  entryPoints: ["js/model_card.ts", "js/chat.ts", "js/model_browser.ts", "js/local_library.ts", "js/server_connection.ts", "js/batch_run.ts", "js/compare.ts"],
  outdir: "src/llm_widgets/static",
  bundle: true,
  format: "esm",
  minify: !watch,
  target: "es2020",
  sourcemap: watch ? "inline" : false,
  logLevel: "info",
  // markdown-it's entity tables and its linkify-it are not needed in a browser (see js/shims/)
  alias: { entities: "./js/shims/entities.ts", "linkify-it": "./js/shims/linkify.ts" },
};

if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
} else {
  await esbuild.build(options);
}
