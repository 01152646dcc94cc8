// Markdown to safe HTML (run notes, markdown artifacts): `marked` renders GitHub-flavoured
// markdown, a private DOMPurify instance strips scripts, event handlers and unsafe URLs, and
// every link opens in a new tab with rel="noopener noreferrer".
import DOMPurify from "dompurify";
import { marked } from "marked";

let purifier: ReturnType<typeof DOMPurify> | null = null;

/** A DOMPurify instance of our own, so that its link hook does not affect other users. */
function purify(): ReturnType<typeof DOMPurify> {
  if (purifier) return purifier;
  const instance = DOMPurify(window);
  instance.addHook("afterSanitizeAttributes", (node) => {
    if (node.tagName === "A" && node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", "noopener noreferrer");
    }
  });
  purifier = instance;
  return instance;
}

/** Sanitized HTML for a markdown text (for `dangerouslySetInnerHTML`). */
export function renderMarkdown(text: string): string {
  const html = marked.parse(text, { async: false, gfm: true, breaks: false });
  return purify().sanitize(html, { ADD_ATTR: ["target"] });
}
