// Turns an OpenAPI 3.1 document into what a reference page shows: tags with their
// operations, each with its parameters, request body, responses and the error codes named
// in them, and every schema as a tree of fields. No DOM here, so node can test it; the
// page (web/apps/api/) only draws what this returns.

const METHODS = ["get", "post", "put", "patch", "delete"];

/// `#/components/schemas/OrderView` -> `OrderView`.
export const refName = (ref) => ref.slice(ref.lastIndexOf("/") + 1);

/// `open_order` -> `Open order`.
export function humanize(id) {
  const words = String(id).replace(/_/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/// The codes a description names in backticks (`table_not_found`), which is how the hub's
/// document lists the stable error codes of each response.
export function codesIn(text) {
  return [...String(text ?? "").matchAll(/`([a-z][a-z0-9_]*)`/g)].map((m) => m[1]);
}

/// Splits text on backticks into plain and code runs: [{code: false, text}, ...].
export function inlineCode(text) {
  return String(text ?? "")
    .split("`")
    .map((part, i) => ({ code: i % 2 === 1, text: part }))
    .filter((run) => run.text !== "");
}

/**
 * A schema as a tree: {type, ref?, nullable, description, enum?, format?, fields?, items?,
 * variants?}. A `$ref` is named, not expanded (the page links to the schema instead), so
 * recursive schemas stay finite.
 */
export function schemaTree(schema) {
  if (!schema || typeof schema !== "object") return { type: "any", nullable: false };
  if (schema.$ref) return { type: refName(schema.$ref), ref: refName(schema.$ref), nullable: false, description: schema.description };
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) {
    const real = alternatives.filter((s) => s.type !== "null");
    const nullable = real.length < alternatives.length;
    if (real.length === 1) {
      const one = schemaTree(real[0]);
      return { ...one, nullable: nullable || one.nullable, description: schema.description ?? one.description };
    }
    return {
      type: "one of",
      nullable,
      description: schema.description,
      variants: real.map(schemaTree),
    };
  }
  if (schema.allOf) {
    const parts = schema.allOf.map(schemaTree);
    if (parts.length === 1) return { ...parts[0], description: schema.description ?? parts[0].description };
    return { type: "all of", nullable: false, description: schema.description, variants: parts };
  }
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  const nullable = types.includes("null");
  const type = types.filter((t) => t !== "null").join(" | ") || (schema.properties ? "object" : "any");
  const tree = { type, nullable, description: schema.description };
  if (schema.format) tree.format = schema.format;
  if (schema.enum) tree.enum = schema.enum.filter((v) => v !== null);
  if (schema.minimum !== undefined) tree.minimum = schema.minimum;
  if (schema.maximum !== undefined) tree.maximum = schema.maximum;
  if (schema.properties) {
    const required = new Set(schema.required ?? []);
    tree.fields = Object.entries(schema.properties)
      .map(([name, field]) => ({ name, required: required.has(name), schema: schemaTree(field) }))
      .sort((a, b) => Number(b.required) - Number(a.required) || a.name.localeCompare(b.name));
    tree.closed = schema.additionalProperties === false;
  } else if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
    tree.values = schemaTree(schema.additionalProperties);
  }
  if (schema.items) tree.items = schemaTree(schema.items);
  return tree;
}

/// A short type label: `string (uuid)`, `[LineRequest]`, `OrderKind`, `integer | null`.
export function typeLabel(tree) {
  let label;
  if (tree.items) label = `[${typeLabel(tree.items)}]`;
  else if (tree.values) label = `{string: ${typeLabel(tree.values)}}`;
  else if (tree.variants) label = tree.variants.map(typeLabel).join(" | ");
  else label = tree.format ? `${tree.type} (${tree.format})` : tree.type;
  return tree.nullable ? `${label} | null` : label;
}

function firstContent(content) {
  const entries = Object.entries(content ?? {});
  if (entries.length === 0) return null;
  const [type, media] = entries.find(([t]) => t === "application/json") ?? entries[0];
  return { contentType: type, schema: media.schema ? schemaTree(media.schema) : null };
}

function operation(doc, path, method, op, shared) {
  const parameters = [...shared, ...(op.parameters ?? [])].map((p) => {
    const param = p.$ref ? doc.components?.parameters?.[refName(p.$ref)] ?? {} : p;
    return {
      name: param.name,
      in: param.in,
      required: Boolean(param.required),
      description: param.description ?? param.schema?.description ?? "",
      schema: schemaTree(param.schema),
    };
  });
  const body = op.requestBody
    ? { required: Boolean(op.requestBody.required), description: op.requestBody.description ?? "", ...firstContent(op.requestBody.content) }
    : null;
  const responses = Object.entries(op.responses ?? {})
    .map(([status, response]) => ({
      status,
      description: response.description ?? "",
      codes: codesIn(response.description),
      ...(firstContent(response.content) ?? { contentType: null, schema: null }),
    }))
    .sort((a, b) => a.status.localeCompare(b.status));
  const security = op.security ?? doc.security ?? [];
  const id = op.operationId ?? `${method}_${path}`;
  return {
    id,
    anchor: `op-${id}`.replace(/[^A-Za-z0-9_-]/g, "-"),
    method: method.toUpperCase(),
    path,
    title: op.summary || humanize(op.operationId ?? `${method} ${path}`),
    description: op.summary && op.description === op.summary ? "" : op.description ?? "",
    deprecated: Boolean(op.deprecated),
    auth: security.flatMap((requirement) => Object.keys(requirement)),
    parameters,
    body,
    responses,
    errorCodes: [...new Set(responses.filter((r) => Number(r.status) >= 400).flatMap((r) => r.codes))],
  };
}

/**
 * The page's model: {title, version, description, tags: [{name, description, operations}],
 * schemas: [{name, tree}], security: [{name, label}]}. Tags keep the document's order;
 * operations without a tag go under "other"; operations in a tag are sorted by path.
 */
export function describeApi(doc) {
  const tags = new Map((doc.tags ?? []).map((t) => [t.name, { name: t.name, description: t.description ?? "", operations: [] }]));
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const entry = operation(doc, path, method, op, item.parameters ?? []);
      for (const name of op.tags?.length ? op.tags : ["other"]) {
        if (!tags.has(name)) tags.set(name, { name, description: "", operations: [] });
        tags.get(name).operations.push(entry);
      }
    }
  }
  for (const tag of tags.values()) {
    tag.operations.sort((a, b) => a.path.localeCompare(b.path) || METHODS.indexOf(a.method.toLowerCase()) - METHODS.indexOf(b.method.toLowerCase()));
  }
  const schemes = doc.components?.securitySchemes ?? {};
  return {
    title: doc.info?.title ?? "API",
    version: doc.info?.version ?? "",
    description: doc.info?.description ?? "",
    openapi: doc.openapi ?? "",
    tags: [...tags.values()].filter((t) => t.operations.length > 0),
    schemas: Object.entries(doc.components?.schemas ?? {})
      .map(([name, schema]) => ({ name, tree: schemaTree(schema) }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    security: Object.entries(schemes).map(([name, s]) => ({
      name,
      label: s.type === "http" ? `${s.scheme === "bearer" ? "Bearer" : s.scheme} token${s.bearerFormat ? ` (${s.bearerFormat})` : ""}` : s.type,
    })),
  };
}

/// Whether an operation matches a search: words all found in its method, path, title,
/// tag, description or error codes.
export function matches(op, tag, query) {
  const words = String(query).toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const text = [op.method, op.path, op.title, op.id, tag, op.description, ...op.errorCodes].join(" ").toLowerCase();
  return words.every((w) => text.includes(w));
}
