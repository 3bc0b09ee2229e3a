/* Beside the copy button of each example's code block, a second button that copies the
   example's runnable version: the block after the imports, settings and definitions it uses.
   The build writes that text on the link under the block (snippets/pipeline/render.py,
   add_runnable_links), so nothing is fetched: it works offline and from a file. Material's
   clipboard handler copies any [data-clipboard-text] and says "Copied to clipboard". */
(function () {
  "use strict";

  function addButtons() {
    var links = document.querySelectorAll("p.runnable-copy a[data-runnable]");
    Array.prototype.forEach.call(links, function (link) {
      var block = link.parentElement.previousElementSibling;
      var pre = block && block.classList.contains("highlight") && block.querySelector("pre");
      if (!pre || pre.querySelector('[data-md-type="runnable"]')) {
        return;
      }
      var nav = pre.querySelector(".md-code__nav");
      if (!nav) {  // Material adds its copy button in this nav; without it, make our own
        nav = document.createElement("nav");
        nav.className = "md-code__nav";
        pre.insertBefore(nav, pre.firstChild);
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "md-code__button";
      button.setAttribute("data-md-type", "runnable");
      button.setAttribute("data-clipboard-text", link.getAttribute("data-runnable"));
      button.setAttribute("title", link.getAttribute("data-tooltip"));
      button.setAttribute("aria-label", link.getAttribute("data-tooltip"));
      nav.appendChild(button);
    });
  }

  if (typeof document$ !== "undefined") {
    document$.subscribe(addButtons);  // Material's page-loaded signal (also after instant loading)
  } else if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", addButtons);
  } else {
    addButtons();
  }
})();
