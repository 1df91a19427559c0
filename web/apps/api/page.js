// Draws the API reference from the hub's own /api/v1/openapi.json with the model of
// /lib/openapi.js: a contents list, a search, every operation (parameters, body with its
// alternative shapes, fields and their limits, responses with their headers, error codes)
// and every schema. Text is only ever set as text, never parsed as HTML.
import { describeApi, inlineCode, limitsOf, matches, typeLabel } from "/lib/openapi.js";

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
  node.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/// Appends the nodes that are there (a missing part is null or undefined).
const add = (parent, ...nodes) => parent.append(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));

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

/// The named schema a tree refers to, when it is in the document.
const named = (tree) => (tree?.ref ? schemas.get(tree.ref) : undefined);

/// Whether a named schema is a plain value (an id, an enum), worth naming beside the link.
const isScalar = (tree) => tree && !tree.fields && !tree.variants && !tree.items && !tree.values && !tree.parts;

/// A type label whose schema names are links to the schema; a link to a plain value says
/// what it is: `TableId (string, uuid) | null`.
function typeNode(tree) {
  const nullable = tree.nullable ? " | null" : "";
  if (tree.ref) {
    const target = named(tree);
    const alias = isScalar(target) && target.type !== "any" ? [target.type, target.format].filter(Boolean).join(", ") : "";
    return h(
      "span",
      { class: "type" },
      schemaLink(tree.ref),
      alias ? [" ", h("span", { class: "alias" }, `(${alias})`)] : null,
      nullable,
    );
  }
  if (tree.items?.ref) return h("span", { class: "type" }, "[", schemaLink(tree.items.ref), "]", nullable);
  if (tree.variants?.every((v) => v.tree.ref)) {
    return h("span", { class: "type" }, ...tree.variants.flatMap((v, i) => (i ? [" | ", schemaLink(v.tree.ref)] : [schemaLink(v.tree.ref)])), nullable);
  }
  if (tree.variants) return h("span", { class: "type" }, `one of ${tree.variants.length}${nullable}`);
  if (tree.fields && !tree.title) return h("span", { class: "type" }, `object${nullable}`);
  return h("span", { class: "type" }, typeLabel(tree));
}

/// The limits of a value on one line: `1–20 characters · pattern ^[a-z]+$ · default 60`.
/// A link to an enum schema lists its values too, as that is what a writer needs.
function limitsNode(tree) {
  const limits = limitsOf(tree);
  const target = named(tree);
  if (target?.enum?.length && !limits.some((l) => l.values)) limits.unshift({ label: "one of", values: target.enum.map(String) });
  if (limits.length === 0) return null;
  return h(
    "p",
    { class: "limits" },
    limits.flatMap((limit, i) => [
      i ? h("span", { class: "sep", "aria-hidden": "true" }, " · ") : null,
      h(
        "span",
        { class: "limit" },
        limit.label ? `${limit.label} ` : null,
        limit.text ?? null,
        limit.code !== undefined ? h("code", {}, limit.code) : null,
        limit.values ? limit.values.flatMap((v, j) => [j ? " " : null, h("code", {}, v)]) : null,
      ),
    ]),
  );
}

/// Fields typed `null`: in this shape they are left out (or sent as null).
const isAbsent = (field) => field.schema.type === "null" && !field.schema.ref;

/// The fields of an object, nesting inline objects and alternatives (named schemas are
/// links); `skip` leaves out fields listed elsewhere (those all alternatives share).
function fieldList(fields, skip = new Set()) {
  const shown = fields.filter((f) => !skip.has(f.name) && !isAbsent(f));
  const absent = fields.filter((f) => !skip.has(f.name) && isAbsent(f));
  const list = shown.length
    ? h(
        "ul",
        { class: "fields" },
        shown.map((field) =>
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
            limitsNode(field.schema),
            field.schema.ref ? null : inside(field.schema),
          ),
        ),
      )
    : null;
  const none = absent.length
    ? h("p", { class: "absent" }, "Leave out (or send as null): ", absent.flatMap((f, i) => [i ? ", " : null, h("code", {}, f.name)]))
    : null;
  return [list, none];
}

/// The alternatives of a oneOf/anyOf: a line naming them, a card for each written inline,
/// then the fields every one of them has alike. The field that tells them apart is named
/// once in that line and in each card's title, not again among the card's fields.
function variantsNode(tree) {
  const shared = new Set(tree.shared ?? []);
  const skip = new Set([...shared, ...(tree.discriminator ? [tree.discriminator] : [])]);
  const inline = tree.variants.filter((v) => !v.tree.ref);
  const first = tree.variants[0].tree;
  return h(
    "div",
    { class: "variants" },
    h(
      "p",
      { class: "one-of" },
      h("strong", {}, tree.type === "any of" ? "Any of: " : "One of: "),
      tree.variants.flatMap((v, i) => [i ? h("span", { class: "sep" }, " | ") : null, v.tree.ref ? schemaLink(v.tree.ref) : h("span", { class: "variant-name" }, v.label)]),
      tree.nullable ? h("span", { class: "sep" }, " | null") : null,
      tree.discriminator ? h("span", { class: "muted" }, ", chosen by the required field ", h("code", {}, tree.discriminator)) : null,
    ),
    inline.length
      ? h(
          "div",
          { class: "variant-grid" },
          inline.map((v) =>
            h(
              "section",
              { class: "variant" },
              h(
                "h5",
                {},
                v.label,
                v.value !== undefined ? h("code", { class: "pin" }, `${tree.discriminator}: ${JSON.stringify(v.value)}`) : null,
              ),
              v.tree.fields ? null : h("div", { class: "schema-type" }, typeNode(v.tree)),
              v.tree.description && v.tree.description !== tree.description ? h("p", { class: "desc" }, rich(v.tree.description)) : null,
              v.tree.fields ? null : limitsNode(v.tree),
              v.tree.fields ? fieldList(v.tree.fields, v.value !== undefined ? skip : shared) : inside(v.tree),
            ),
          ),
        )
      : null,
    shared.size && first.fields
      ? [
          h("p", { class: "shared-head" }, h("strong", {}, `In all ${tree.variants.length} shapes:`)),
          fieldList(first.fields.filter((f) => shared.has(f.name))),
        ]
      : null,
  );
}

/// What is inside a schema written inline: its fields, alternatives, or the fields of the
/// objects in its list or map. Nothing for plain values and links.
function inside(tree) {
  if (!tree || tree.ref) return null;
  if (tree.variants) return variantsNode(tree);
  if (tree.fields?.length) {
    return [
      tree.includes?.length
        ? h("p", { class: "includes" }, "Built on ", tree.includes.flatMap((n, i) => [i ? " and " : null, schemaLink(n)]), "; every field:")
        : null,
      fieldList(tree.fields),
    ];
  }
  if (tree.parts) return h("div", { class: "parts" }, h("p", { class: "one-of" }, h("strong", {}, "All of:")), tree.parts.map((p) => h("div", { class: "variant" }, typeNode(p), inside(p))));
  if (tree.items && !tree.items.ref) return inside(tree.items);
  if (tree.values && !tree.values.ref) return inside(tree.values);
  return null;
}

/// A schema as a block: its type (a link when named), its limits, and what is inside it;
/// `expand` also draws a named schema's inside (a body is what a caller writes).
function schemaBlock(tree, { expand = false } = {}) {
  if (!tree) return null;
  const target = expand ? named(tree) : undefined;
  return h(
    "div",
    { class: "schema" },
    h("div", { class: "schema-type" }, tree.ref ? h("span", { class: "muted" }, "Schema ") : null, typeNode(tree)),
    limitsNode(tree),
    target ? [target.description ? h("p", { class: "desc" }, rich(target.description)) : null, inside(target)] : inside(tree),
  );
}

function statusClass(status) {
  if (status.startsWith("2")) return "ok";
  if (status.startsWith("4")) return "client";
  if (status.startsWith("5")) return "server";
  return "other";
}

/// "Body: OrderView", naming the content type unless it is the only one and JSON.
function responseBody(response) {
  if (response.contents.length === 0) return null;
  const plain = response.contents.length === 1 && response.contents[0].contentType === "application/json";
  return h(
    "div",
    { class: "muted" },
    "Body: ",
    response.contents.flatMap((c, i) => [
      i ? " or " : null,
      c.schema ? typeNode(c.schema) : h("code", {}, c.contentType),
      c.schema && !plain ? h("span", {}, ` (${c.contentType})`) : null,
    ]),
  );
}

/// The headers a response carries, each with its type, limits and meaning.
function responseHeaders(response) {
  if (response.headers.length === 0) return null;
  return h(
    "ul",
    { class: "headers", "aria-label": "Headers" },
    response.headers.map((header) =>
      h(
        "li",
        {},
        h(
          "div",
          { class: "field-head" },
          h("span", { class: "muted" }, "Header"),
          h("code", { class: "name" }, header.name),
          typeNode(header.schema),
          header.required ? h("span", { class: "badge required" }, "always sent") : null,
        ),
        header.description ? h("p", { class: "desc" }, rich(header.description)) : null,
        limitsNode(header.schema),
      ),
    ),
  );
}

/// What a schema entry's summary says of it: `12 fields`, `one of: PIN login | Password login`.
function schemaSummary(tree) {
  if (tree.variants) return `${tree.type}: ${typeLabel({ ...tree, nullable: false })}`;
  if (tree.fields) return `${tree.fields.length} field${tree.fields.length === 1 ? "" : "s"}`;
  return typeLabel(tree);
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
      h("span", { class: "op-title" }, rich(op.title)),
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
              h("td", { "data-label": "Type" }, typeNode(p.schema), limitsNode(p.schema)),
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
      // The body's named schema is drawn here in full: it is what a caller writes.
      schemaBlock(op.body.schema, { expand: true }),
    );
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
          h("div", { class: "response-text" }, h("p", {}, rich(r.description)), responseBody(r), responseHeaders(r)),
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
        h("summary", {}, h("code", { class: "path" }, s.name), h("span", { class: "op-title" }, schemaSummary(s.tree))),
        h(
          "div",
          { class: "op-body" },
          s.tree.description ? h("p", {}, rich(s.tree.description)) : null,
          isScalar(s.tree) ? [h("div", { class: "schema-type" }, typeNode(s.tree)), limitsNode(s.tree)] : inside(s.tree),
        ),
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
