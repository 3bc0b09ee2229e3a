// Typesets TeX with KaTeX at build time, for snippets/pipeline/render.py.
// Reads a JSON list of [tex, display] pairs on stdin and writes the list of HTML strings on
// stdout, in order. A formula KaTeX cannot typeset stops the build (exit 1) naming the formula.
const katex = require("katex");

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const out = [];
  for (const [tex, display] of JSON.parse(input)) {
    try {
      out.push(katex.renderToString(tex, {
        displayMode: display, throwOnError: true, strict: "error", output: "htmlAndMathml",
      }));
    } catch (problem) {
      process.stderr.write(`${problem.message}\nin the formula: ${tex}\n`);
      process.exit(1);
    }
  }
  process.stdout.write(JSON.stringify(out));
});
