// Turns an OpenAPI 3.1 document into what a reference page shows: tags with their
// operations, each with its parameters, request body, responses (with their headers) and
// the error codes named in them, and every schema as a tree of fields with their limits.
// oneOf becomes labelled alternatives, allOf one merged field list, a null alternative
// `X | null`. No DOM here, so node can test it; the page (web/apps/api/) only draws what
// this returns.

const METHODS = ["get", "post", "put", "patch", "delete"];

/// `#/components/schemas/OrderView` -> `OrderView`.
export const refName = (ref) => ref.slice(ref.lastIndexOf("/") + 1);

/// `open_order` -> `Open order`.
export function humanize(id) {
  const words = String(id).replace(/_/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/// `x-venue-seq` -> `X-Venue-Seq`, how header names are usually written (they are
/// case-insensitive; the document spells them in lower case).
export const headerName = (name) => String(name).replace(/(^|-)([a-z])/g, (_, dash, c) => dash + c.toUpperCase());

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

const isNull = (s) => s && typeof s === "object" && (s.type === "null" || (Array.isArray(s.enum) && s.enum.length === 1 && s.enum[0] === null));

/// The single value a schema allows (`const`, or an enum of one), or undefined.
function onlyValue(schema) {
  if (!schema || typeof schema !== "object") return undefined;
  if (schema.const !== undefined) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length === 1) return schema.enum[0];
  return undefined;
}

/**
 * The raw schema an `allOf` stands for: the parts' properties merged (a later part's
 * keywords win for a property both name, as the later part is the narrower one), their
 * `required` lists joined, the outer schema's own keywords on top. Named parts are looked
 * up in `schemas`; null when one cannot be (unknown, or already being expanded).
 */
function mergeAllOf(schema, schemas, expanding) {
  const { allOf, ...outer } = schema;
  const merged = {};
  const properties = {};
  const required = [];
  const includes = [];
  // The outer schema's own keywords count as a last part, its description and title first.
  for (const key of ["description", "title"]) if (outer[key] !== undefined) merged[key] = outer[key];
  for (let part of [...allOf, outer]) {
    let inside = expanding;
    if (part?.$ref) {
      const name = refName(part.$ref);
      if (!schemas?.[name] || expanding.has(name)) return null;
      includes.push(name);
      inside = new Set([...expanding, name]);
      part = schemas[name];
    }
    if (!part || typeof part !== "object") continue;
    if (part.allOf) {
      const inner = mergeAllOf(part, schemas, inside);
      if (!inner) return null;
      part = inner.schema;
    }
    for (const [key, value] of Object.entries(part)) {
      if (key === "properties") {
        for (const [name, field] of Object.entries(value)) properties[name] = properties[name] ? { ...properties[name], ...field } : field;
      } else if (key === "required") {
        required.push(...value);
      } else if (key === "description" || key === "title") {
        merged[key] ??= value;
      } else {
        merged[key] = value;
      }
    }
  }
  if (Object.keys(properties).length) {
    merged.properties = properties;
    merged.type ??= "object";
  }
  if (required.length) merged.required = [...new Set(required)];
  return { schema: merged, includes };
}

/// The keywords that limit a value, copied onto its tree as they are.
const LIMIT_KEYS = [
  "minLength", "maxLength", "pattern",
  "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
  "minItems", "maxItems", "uniqueItems",
  "minProperties", "maxProperties",
];

/// Description, title, format, enum, default and limits of `schema`, onto `tree`.
function annotate(tree, schema) {
  if (schema.description !== undefined && tree.description === undefined) tree.description = schema.description;
  if (schema.title !== undefined && tree.title === undefined) tree.title = schema.title;
  if (schema.format) tree.format = schema.format;
  if (Array.isArray(schema.enum)) {
    tree.enum = schema.enum.filter((v) => v !== null);
    if (schema.enum.includes(null)) tree.nullable = true;
  }
  if (schema.const !== undefined) tree.const = schema.const;
  if (schema.default !== undefined) tree.default = schema.default;
  for (const key of LIMIT_KEYS) if (schema[key] !== undefined) tree[key] = schema[key];
  if (schema.deprecated) tree.deprecated = true;
  if (schema.readOnly) tree.readOnly = true;
  if (schema.writeOnly) tree.writeOnly = true;
  if (schema.nullable === true) tree.nullable = true;
  return tree;
}

/// The name of a property every object alternative requires and pins to one value
/// (`kind: "dine_in"`), distinct across them: what tells the alternatives apart.
function discriminatorOf(alternatives) {
  const objects = alternatives.map((s) => s.fields);
  if (objects.length < 2 || objects.some((f) => !f)) return undefined;
  const candidates = objects[0].filter((f) => f.required && f.schema.value !== undefined).map((f) => f.name);
  return candidates.find((name) => {
    const values = objects.map((fields) => fields.find((f) => f.name === name && f.required)?.schema.value);
    return values.every((v) => v !== undefined) && new Set(values.map((v) => JSON.stringify(v))).size === values.length;
  });
}

/// The fields every alternative has alike (same name, schema and required-ness).
function sharedFields(alternatives) {
  if (alternatives.length < 2 || alternatives.some((v) => !v.tree.fields)) return [];
  const key = (f) => JSON.stringify([f.required, f.schema]);
  const [first, ...rest] = alternatives.map((v) => new Map(v.tree.fields.map((f) => [f.name, key(f)])));
  return [...first].filter(([name, k]) => rest.every((m) => m.get(name) === k)).map(([name]) => name);
}

/**
 * A schema as a tree: {type, ref?, nullable, description?, title?, format?, enum?, value?,
 * default?, the limit keywords?, fields?, closed?, values?, items?, variants?,
 * discriminator?, shared?, includes?}. A `$ref` is named, not expanded (the page links to
 * the schema instead), so recursive schemas stay finite; only the named parts of an
 * `allOf` are looked up in `schemas` (the document's components) to merge their fields.
 * `variants` are the alternatives of a oneOf/anyOf, each {label, tree}; `shared` names the
 * fields all of them have alike; `value` is the one value a `const` or one-item enum allows.
 */
export function schemaTree(schema, schemas = {}, expanding = new Set()) {
  if (!schema || typeof schema !== "object") return { type: "any", nullable: false };
  if (schema.$ref) {
    const name = refName(schema.$ref);
    return annotate({ type: name, ref: name, nullable: false }, schema);
  }
  const alternatives = schema.oneOf ?? schema.anyOf;
  if (alternatives) {
    const real = alternatives.filter((s) => !isNull(s));
    const nullable = real.length < alternatives.length || schema.nullable === true;
    if (real.length === 1) {
      const { oneOf: _o, anyOf: _a, ...outer } = schema;
      const one = schemaTree(real[0], schemas, expanding);
      return annotate({ ...one, nullable: nullable || one.nullable, description: outer.description ?? one.description }, outer);
    }
    const trees = real.map((s) => schemaTree(s, schemas, expanding));
    // Named alternatives are looked at through their schema, to find what tells them apart.
    const seen = trees.map((t) => (t.ref && schemas[t.ref] && !expanding.has(t.ref) ? schemaTree(schemas[t.ref], schemas, new Set([...expanding, t.ref])) : t));
    const discriminator = schema.discriminator?.propertyName ?? discriminatorOf(seen);
    const variants = trees.map((tree, i) => {
      const pinned = seen[i].fields?.find((f) => f.name === discriminator)?.schema.value;
      const label = tree.title ?? (pinned !== undefined ? `${discriminator}: ${pinned}` : tree.ref ?? typeLabel(tree));
      return { label, ...(pinned !== undefined ? { value: pinned } : {}), tree };
    });
    const tree = { type: schema.anyOf && !schema.oneOf ? "any of" : "one of", nullable, variants };
    if (discriminator) tree.discriminator = discriminator;
    const shared = sharedFields(variants);
    if (shared.length) tree.shared = shared;
    const { oneOf: _o, anyOf: _a, discriminator: _d, ...outer } = schema;
    return annotate(tree, outer);
  }
  if (schema.allOf) {
    const { allOf, ...outer } = schema;
    if (allOf.length === 1 && !outer.properties) {
      const one = schemaTree(allOf[0], schemas, expanding);
      return annotate({ ...one, description: outer.description ?? one.description }, outer);
    }
    const merged = mergeAllOf(schema, schemas, expanding);
    if (merged) {
      const tree = schemaTree(merged.schema, schemas, expanding);
      if (merged.includes.length) tree.includes = merged.includes;
      return tree;
    }
    // A part that cannot be looked up: the parts side by side.
    const parts = allOf.map((s) => schemaTree(s, schemas, expanding));
    return annotate({ type: "all of", nullable: false, parts }, outer);
  }
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  const nullable = types.includes("null") && types.length > 1;
  const type = types.length === 1 && types[0] === "null" ? "null" : types.filter((t) => t !== "null").join(" | ") || (schema.properties ? "object" : "any");
  const tree = annotate({ type, nullable }, schema);
  const value = onlyValue(schema);
  if (value !== undefined && value !== null) tree.value = value;
  if (schema.properties) {
    const required = new Set(schema.required ?? []);
    tree.fields = Object.entries(schema.properties)
      .map(([name, field]) => ({ name, required: required.has(name), schema: schemaTree(field, schemas, expanding) }))
      .sort((a, b) => Number(b.required) - Number(a.required) || a.name.localeCompare(b.name));
    tree.closed = schema.additionalProperties === false;
  } else if (schema.additionalProperties && typeof schema.additionalProperties === "object") {
    tree.values = schemaTree(schema.additionalProperties, schemas, expanding);
  }
  if (schema.items) tree.items = schemaTree(schema.items, schemas, expanding);
  return tree;
}

/// A short type label: `string (uuid)`, `[LineRequest]`, `OrderKind`, `integer | null`,
/// `PIN login | Password login`.
export function typeLabel(tree) {
  let label;
  if (tree.items) label = `[${typeLabel(tree.items)}]`;
  else if (tree.values) label = `{string: ${typeLabel(tree.values)}}`;
  else if (tree.variants) label = tree.variants.map((v) => v.label).join(" | ");
  else if (tree.parts) label = tree.parts.map(typeLabel).join(" & ");
  else label = tree.format ? `${tree.type} (${tree.format})` : tree.type;
  return tree.nullable ? `${label} | null` : label;
}

const show = (value) => (typeof value === "string" ? value : JSON.stringify(value));

/// `1–20 characters`, `at least 8 characters`, `at most 64 items`.
function span(min, max, one, many = `${one}s`) {
  const units = (n) => (n === 1 ? one : many);
  if (min !== undefined && max !== undefined) return min === max ? `exactly ${min} ${units(min)}` : `${min}–${max} ${units(max)}`;
  if (min !== undefined) return `at least ${min} ${units(min)}`;
  return `at most ${max} ${units(max)}`;
}

/**
 * The limits of a value, compact, in the order a writer needs them: [{label?, text?,
 * code?, values?}]; e.g. {text: "1–20 characters"}, {label: "pattern", code: "^[0-9]{4,8}$"},
 * {label: "one of", values: ["asc", "desc"]}, {label: "default", code: "60"}.
 */
export function limitsOf(tree) {
  const out = [];
  if (tree.value !== undefined && !tree.variants) out.push({ label: "always", code: show(tree.value) });
  else if (tree.enum?.length) out.push({ label: "one of", values: tree.enum.map(show) });
  // A minimum of 1 beside "not blank" says the same twice: "not blank" is kept.
  const minLength = tree.minLength === 1 && tree.pattern === "\\S" ? undefined : tree.minLength || undefined;
  if (minLength !== undefined || tree.maxLength !== undefined) out.push({ text: span(minLength, tree.maxLength, "character") });
  if (tree.pattern === "\\S") out.push({ text: "not blank" });
  else if (tree.pattern !== undefined) out.push({ label: "pattern", code: tree.pattern });
  const low = tree.exclusiveMinimum !== undefined ? { n: tree.exclusiveMinimum, open: true } : tree.minimum !== undefined ? { n: tree.minimum } : null;
  const high = tree.exclusiveMaximum !== undefined ? { n: tree.exclusiveMaximum, open: true } : tree.maximum !== undefined ? { n: tree.maximum } : null;
  if (low && high && !low.open && !high.open) out.push({ text: `${low.n} to ${high.n}` });
  else if (low || high) {
    const parts = [];
    if (low) parts.push(`${low.open ? ">" : "≥"} ${low.n}`);
    if (high) parts.push(`${high.open ? "<" : "≤"} ${high.n}`);
    out.push({ text: parts.join(", ") });
  }
  if (tree.multipleOf !== undefined) out.push({ text: `multiple of ${tree.multipleOf}` });
  const minItems = tree.minItems || undefined;
  if (minItems !== undefined || tree.maxItems !== undefined) out.push({ text: span(minItems, tree.maxItems, "item") });
  if (tree.uniqueItems) out.push({ text: "no duplicates" });
  const minProperties = tree.minProperties || undefined;
  if (minProperties !== undefined || tree.maxProperties !== undefined) out.push({ text: span(minProperties, tree.maxProperties, "entry", "entries") });
  if (tree.default !== undefined) out.push({ label: "default", code: show(tree.default) });
  if (tree.readOnly) out.push({ text: "read-only" });
  if (tree.writeOnly) out.push({ text: "write-only" });
  if (tree.deprecated) out.push({ text: "deprecated" });
  return out;
}

/// Looks a `#/components/<kind>/<name>` reference up; anything else is returned as it is.
function resolve(doc, object, kind) {
  if (!object?.$ref) return object ?? {};
  return doc.components?.[kind]?.[refName(object.$ref)] ?? {};
}

function contents(content, schemas) {
  return Object.entries(content ?? {})
    .map(([contentType, media]) => ({ contentType, schema: media?.schema ? schemaTree(media.schema, schemas) : null }))
    .sort((a, b) => Number(b.contentType === "application/json") - Number(a.contentType === "application/json"));
}

/// The first content (JSON if there is), with every content under `contents`.
function body(content, schemas) {
  const all = contents(content, schemas);
  return { contentType: all[0]?.contentType ?? null, schema: all[0]?.schema ?? null, contents: all };
}

function operation(doc, path, method, op, shared) {
  const schemas = doc.components?.schemas ?? {};
  const parameters = [...shared, ...(op.parameters ?? [])].map((p) => {
    const param = resolve(doc, p, "parameters");
    return {
      name: param.name,
      in: param.in,
      required: Boolean(param.required),
      description: param.description ?? param.schema?.description ?? "",
      schema: schemaTree(param.schema, schemas),
    };
  });
  const requestBody = op.requestBody && resolve(doc, op.requestBody, "requestBodies");
  const responses = Object.entries(op.responses ?? {})
    .map(([status, raw]) => {
      const response = resolve(doc, raw, "responses");
      return {
        status,
        description: response.description ?? "",
        codes: codesIn(response.description),
        headers: Object.entries(response.headers ?? {}).map(([name, raw]) => {
          const header = resolve(doc, raw, "headers");
          return {
            name: headerName(name),
            required: Boolean(header.required),
            description: header.description ?? header.schema?.description ?? "",
            schema: schemaTree(header.schema, schemas),
          };
        }),
        ...body(response.content, schemas),
      };
    })
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
    body: requestBody
      ? { required: Boolean(requestBody.required), description: requestBody.description ?? "", ...body(requestBody.content, schemas) }
      : null,
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
  const schemas = doc.components?.schemas ?? {};
  return {
    title: doc.info?.title ?? "API",
    version: doc.info?.version ?? "",
    description: doc.info?.description ?? "",
    openapi: doc.openapi ?? "",
    tags: [...tags.values()].filter((t) => t.operations.length > 0),
    schemas: Object.entries(schemas)
      .map(([name, schema]) => ({ name, tree: schemaTree(schema, schemas, new Set([name])) }))
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
