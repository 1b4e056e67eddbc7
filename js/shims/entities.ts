// Stands in for the `entities` package in markdown-it (build alias, js/build.mjs): markdown-it
// only asks it to decode one "&name;" reference at a time, and the browser already knows every
// HTML5 entity, so its 70 KB of tables are not bundled. A textarea's content is parsed as text
// (RCDATA), so no element can be created; anything that is not exactly one entity comes back as is.
const NAMED = /^&[a-z][a-z0-9]{1,31};$/i;
let area: HTMLTextAreaElement | null = null;

export function decodeHTML(reference: string): string {
  if (!NAMED.test(reference)) return reference;
  area ??= document.createElement("textarea");
  area.innerHTML = reference;
  const decoded = area.value;
  // every entity stands for one or two characters; more means the browser read a prefix of a
  // name (legacy "&amp" in "&ampx;"), which CommonMark does not
  return [...decoded].length <= 2 ? decoded : reference;
}

export const decodeHTMLStrict = decodeHTML;
