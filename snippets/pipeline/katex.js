// Typesets TeX with KaTeX at build time, for snippets/pipeline/render.py (its Katex class).
// One process serves a whole build: each line on stdin is a JSON list of [tex, display] pairs,
// answered by one line on stdout, the list of HTML strings in order, or {"error": "..."} naming
// the first formula KaTeX cannot typeset (which stops the build).
const katex = require("katex");
const readline = require("readline");

function typeset(formulas) {
  const out = [];
  for (const [tex, display] of formulas) {
    try {
      out.push(katex.renderToString(tex, {
        displayMode: display, throwOnError: true, strict: "error", output: "htmlAndMathml",
      }));
    } catch (problem) {
      return { error: `${problem.message}\nin the formula: ${tex}` };
    }
  }
  return out;
}

readline.createInterface({ input: process.stdin, terminal: false }).on("line", (line) => {
  process.stdout.write(JSON.stringify(typeset(JSON.parse(line))) + "\n");
});
