// Reads the runnable examples out of the project's Markdown documents, so a test runs the
// very text a reader copies and the two cannot drift apart.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { ROOT } from "./hub.js";

/**
 * The fenced code blocks of language `lang` in the section under the heading `heading`
 * (up to the next heading of the same or a higher level) of `file`, relative to the repo.
 */
export async function codeBlocks(file, heading, lang) {
  const text = await readFile(join(ROOT, file), "utf8");
  const lines = text.split("\n");
  const start = lines.findIndex((line) => /^#+ /.test(line) && line.replace(/^#+ /, "").trim() === heading);
  if (start < 0) throw new Error(`${file} has no heading "${heading}"`);
  const level = lines[start].match(/^#+/)[0].length;
  const blocks = [];
  let block = null;
  for (const line of lines.slice(start + 1)) {
    if (block === null) {
      const heading = line.match(/^(#+) /);
      if (heading && heading[1].length <= level) break;
      const fence = line.match(/^```(\w*)\s*$/);
      if (fence) block = { lang: fence[1], lines: [] };
    } else if (/^```\s*$/.test(line)) {
      if (block.lang === lang) blocks.push(block.lines.join("\n"));
      block = null;
    } else {
      block.lines.push(line);
    }
  }
  if (blocks.length === 0) throw new Error(`${file} § "${heading}" has no \`\`\`${lang} block`);
  return blocks;
}
