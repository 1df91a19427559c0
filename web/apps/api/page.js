// Draws the API reference from the hub's own /api/v1/openapi.json with the model of
// /lib/openapi.js: a contents list, a search, every operation (parameters, body, responses,
// error codes) and every schema. Text is only ever set as text, never parsed as HTML.
import { describeApi, inlineCode, matches, typeLabel } from "/lib/openapi.js";

const $ = (id) => document.getElementById(id);

function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/// Appends the nodes that are there (a missing part is null or undefined).
const add = (parent, ...nodes) => parent.append(...nodes.flat().filter((n) => n !== null && n !== undefined && n !== false));

/// Text with `code` runs as <code>.
const rich = (text) => inlineCode(text).map((run) => (run.code ? h("code", {}, run.text) : run.text));

const SVG = "http://www.w3.org/2000/svg";
function lockIcon() {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", "M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z");
  svg.append(path);
  return svg;
}

const schemaLink = (name) => h("a", { href: `#schema-${name}`, class: "type" }, name);

/// A type label whose schema names are links to the schema.
function typeNode(tree) {
  if (tree.ref) return h("span", {}, schemaLink(tree.ref), tree.nullable ? h("span", { class: "type" }, " | null") : null);
  if (tree.items?.ref) return h("span", { class: "type" }, "[", schemaLink(tree.items.ref), "]", tree.nullable ? " | null" : "");
  if (tree.variants?.every((v) => v.ref)) {
    return h("span", { class: "type" }, ...tree.variants.flatMap((v, i) => (i ? [" | ", schemaLink(v.ref)] : [schemaLink(v.ref)])));
  }
  return h("span", { class: "type" }, typeLabel(tree));
}

function constraints(tree) {
  const notes = [];
  if (tree.enum?.length) notes.push(h("span", { class: "enum" }, "one of ", ...tree.enum.flatMap((v, i) => [i ? ", " : "", h("code", {}, String(v))])));
  if (tree.minimum !== undefined || tree.maximum !== undefined) {
    notes.push(h("span", { class: "enum" }, `range ${tree.minimum ?? "…"}–${tree.maximum ?? "…"}`));
  }
  return notes;
}

/// The fields of an object schema, nesting inline objects (named schemas are links).
function fieldList(tree) {
  const target = tree.items && !tree.items.ref ? tree.items : tree;
  if (!target.fields?.length) return null;
  return h(
    "ul",
    { class: "fields" },
    target.fields.map((field) =>
      h(
        "li",
        {},
        h(
          "div",
          { class: "field-head" },
          h("code", { class: "name" }, field.name),
          typeNode(field.schema),
          h("span", { class: field.required ? "badge required" : "badge optional" }, field.required ? "required" : "optional"),
        ),
        field.schema.description ? h("p", { class: "desc" }, rich(field.schema.description)) : null,
        ...constraints(field.schema),
        field.schema.ref ? null : fieldList(field.schema),
      ),
    ),
  );
}

function schemaBlock(tree) {
  if (!tree) return null;
  return h(
    "div",
    { class: "schema" },
    h("div", { class: "schema-type" }, typeNode(tree), ...constraints(tree)),
    tree.ref ? null : fieldList(tree),
  );
}

function statusClass(status) {
  if (status.startsWith("2")) return "ok";
  if (status.startsWith("4")) return "client";
  if (status.startsWith("5")) return "server";
  return "other";
}

function operationNode(op, tagName) {
  const details = h(
    "details",
    { class: "op", id: op.anchor, dataset: { tag: tagName } },
    h(
      "summary",
      {},
      h("span", { class: `method ${op.method.toLowerCase()}` }, op.method),
      h("code", { class: "path" }, op.path.replace(/\//g, "/\u200b")),
      h("span", { class: "op-title" }, op.title),
      op.auth.length ? h("span", { class: "auth", title: "Needs an access token" }, lockIcon(), h("span", { class: "sr" }, "token")) : null,
    ),
  );
  const body = h("div", { class: "op-body" });
  if (op.description) add(body, h("p", {}, rich(op.description)));
  add(
    body,
    h(
      "p",
      { class: "meta" },
      op.auth.length
        ? [lockIcon(), " Send ", h("code", {}, "Authorization: Bearer <access_token>"), " (from ", h("code", {}, "POST /api/v1/auth/login"), ")."]
        : "No token needed.",
      " Operation id ",
      h("code", {}, op.id),
      ".",
    ),
  );
  if (op.parameters.length) {
    add(
      body,
      h("h4", {}, "Parameters"),
      h(
        "table",
        { class: "params" },
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "In"), h("th", {}, "Type"), h("th", {}, "Description"))),
        h(
          "tbody",
          {},
          op.parameters.map((p) =>
            h(
              "tr",
              {},
              h("td", { "data-label": "Name" }, h("code", { class: "name" }, p.name), p.required ? h("span", { class: "badge required" }, "required") : null),
              h("td", { "data-label": "In" }, p.in),
              h("td", { "data-label": "Type" }, typeNode(p.schema), ...constraints(p.schema)),
              h("td", { "data-label": "Description" }, rich(p.description)),
            ),
          ),
        ),
      ),
    );
  }
  if (op.body) {
    add(
      body,
      h("h4", {}, "Request body ", h("span", { class: "muted" }, `${op.body.contentType ?? ""}${op.body.required ? "" : ", optional"}`)),
      op.body.description ? h("p", {}, rich(op.body.description)) : null,
      schemaBlock(op.body.schema),
    );
    // The body's named schema, expanded here too: it is what a caller writes.
    const named = op.body.schema?.ref && schemas.get(op.body.schema.ref);
    if (named) add(body, fieldList(named));
  }
  add(
    body,
    h("h4", {}, "Responses"),
    h(
      "ul",
      { class: "responses" },
      op.responses.map((r) =>
        h(
          "li",
          {},
          h("span", { class: `status ${statusClass(r.status)}` }, r.status),
          h("div", { class: "response-text" }, h("p", {}, rich(r.description)), r.schema ? h("div", { class: "muted" }, "Body: ", typeNode(r.schema)) : null),
        ),
      ),
    ),
  );
  details.append(body);
  return details;
}

let model;
const schemas = new Map();

function render(doc) {
  model = describeApi(doc);
  for (const s of model.schemas) schemas.set(s.name, s.tree);
  document.title = `${model.title} ${model.version}`.trim();
  $("title").textContent = model.title;
  $("version").textContent = [model.version && `v${model.version}`, model.openapi && `OpenAPI ${model.openapi}`].filter(Boolean).join(" · ");
  $("intro").replaceChildren(h("p", {}, rich(model.description)));

  const count = model.tags.reduce((n, t) => n + t.operations.length, 0);
  $("count").textContent = `${count} operations in ${model.tags.length} groups, ${model.schemas.length} schemas`;

  $("toc").replaceChildren(
    ...model.tags.map((tag) =>
      h(
        "li",
        { dataset: { tag: tag.name } },
        h("a", { href: `#tag-${tag.name}`, class: "toc-tag" }, tag.name, h("span", { class: "toc-count" }, String(tag.operations.length))),
        h(
          "ul",
          {},
          tag.operations.map((op) =>
            h("li", { dataset: { op: op.anchor } }, h("a", { href: `#${op.anchor}` }, h("span", { class: `method small ${op.method.toLowerCase()}` }, op.method), h("span", { class: "toc-path" }, op.path.replace("/api/v1", "")))),
          ),
        ),
      ),
    ),
    h("li", {}, h("a", { href: "#schemas", class: "toc-tag" }, "schemas", h("span", { class: "toc-count" }, String(model.schemas.length)))),
  );

  $("operations").replaceChildren(
    ...model.tags.map((tag) =>
      h(
        "section",
        { class: "tag", id: `tag-${tag.name}`, dataset: { tag: tag.name } },
        h("h2", {}, tag.name),
        tag.description ? h("p", { class: "tag-desc" }, rich(tag.description)) : null,
        tag.operations.map((op) => operationNode(op, tag.name)),
      ),
    ),
  );

  $("schema-list").replaceChildren(
    ...model.schemas.map((s) =>
      h(
        "details",
        { class: "op schema-entry", id: `schema-${s.name}` },
        h("summary", {}, h("code", { class: "path" }, s.name), h("span", { class: "op-title" }, s.tree.fields ? `${s.tree.fields.length} fields` : typeLabel(s.tree))),
        h("div", { class: "op-body" }, s.tree.description ? h("p", {}, rich(s.tree.description)) : null, schemaBlock({ ...s.tree, ref: undefined })),
      ),
    ),
  );
  openTarget();
}

/// Opens the operation or schema the address points at, and scrolls it into view.
function openTarget() {
  const id = decodeURIComponent(location.hash.slice(1));
  const target = id && document.getElementById(id);
  if (target instanceof HTMLDetailsElement) {
    target.open = true;
    target.scrollIntoView({ block: "start" });
  }
}

function filter(query) {
  let shown = 0;
  for (const tag of model.tags) {
    let inTag = 0;
    for (const op of tag.operations) {
      const visible = matches(op, tag.name, query);
      for (const node of document.querySelectorAll(`[id="${op.anchor}"], [data-op="${op.anchor}"]`)) node.hidden = !visible;
      if (visible) inTag += 1;
    }
    for (const node of document.querySelectorAll(`[data-tag="${tag.name}"]`)) {
      if (!node.classList.contains("op")) node.hidden = inTag === 0;
    }
    shown += inTag;
  }
  $("schemas").hidden = query.trim() !== "";
  $("no-match").hidden = shown > 0;
}

function setAll(open) {
  for (const node of document.querySelectorAll("#operations details.op")) if (!node.hidden) node.open = open;
}

async function main() {
  try {
    const response = await fetch("/api/v1/openapi.json", { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`the hub answered ${response.status}`);
    render(await response.json());
    $("loading").hidden = true;
  } catch (error) {
    $("loading").textContent = `Could not load /api/v1/openapi.json: ${error.message}. Is the hub running?`;
    $("loading").classList.add("error");
    return;
  }
  $("search").addEventListener("input", (e) => filter(e.target.value));
  $("expand").addEventListener("click", () => setAll(true));
  $("collapse").addEventListener("click", () => setAll(false));
  window.addEventListener("hashchange", openTarget);
}

main();
