// The readable API reference (/api/v1/docs) and the landing page that links to it, in
// chromium against the real hub: the page renders the hub's own OpenAPI document, shows
// known operations with their parameters, bodies (alternative shapes, merged schemas, the
// limits of each field), responses with their headers and error codes, searches,
// loads nothing from outside the hub, and is screenshotted at wall-screen and phone size
// (target/screenshots/) for a person to look at.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";

import { describeApi, limitsOf, schemaTree, typeLabel } from "../lib/openapi.js";
import { launchBrowser } from "./support/browser.js";
import { ROOT, startHub } from "./support/hub.js";

const SHOTS = process.env.SCREENSHOT_DIR ?? join(ROOT, "target", "screenshots");
const SIZES = [
  { name: "1920x1080", width: 1920, height: 1080 },
  { name: "360x800", width: 360, height: 800 },
];

let hub;
let browser;
before(async () => {
  hub = await startHub();
  browser = await launchBrowser();
  await mkdir(SHOTS, { recursive: true });
});
after(async () => {
  await browser?.close();
  await hub?.stop();
});

/// A page that records every request leaving the hub's origin.
async function openPage(size) {
  const page = await browser.page(size);
  page.foreign = [];
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(hub.base) && !url.startsWith("data:")) page.foreign.push(url);
  });
  return page;
}

test("the model lists every operation of the hub's document", async () => {
  const doc = await hub.api().get("/api/v1/openapi.json");
  const model = describeApi(doc);
  const listed = new Set(model.tags.flatMap((t) => t.operations.map((o) => `${o.method} ${o.path}`)));
  const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).filter((m) => ["get", "post", "put", "patch", "delete"].includes(m)).map((m) => `${m.toUpperCase()} ${path}`));
  assert.deepEqual([...listed].sort(), [...new Set(documented)].sort());
  const open = model.tags.find((t) => t.name === "orders").operations.find((o) => o.id === "open_order");
  assert.equal(open.method, "POST");
  assert.deepEqual(open.auth, ["bearer"]);
  assert.equal(open.body.schema.ref, "OpenOrderRequest");
  assert.ok(open.errorCodes.includes("item_unavailable"), open.errorCodes.join(","));
  // The hub's document says each kind of order as its own shape, told apart by `kind`.
  const schema = (name) => model.schemas.find((s) => s.name === name).tree;
  const field = (tree, name) => tree.fields.find((f) => f.name === name);
  const request = schema("OpenOrderRequest");
  assert.equal(request.type, "one of");
  assert.equal(request.discriminator, "kind");
  assert.deepEqual(request.variants.map((v) => [v.label, v.value]), [["Dine-in order", "dine_in"], ["Takeaway order", "takeaway"], ["Delivery order", "delivery"]]);
  const [dineIn, takeaway, delivery] = request.variants.map((v) => v.tree);
  assert.deepEqual(dineIn.fields.filter((f) => f.required).map((f) => f.name), ["command_id", "kind", "table_id"]);
  assert.deepEqual(takeaway.fields.filter((f) => f.required).map((f) => f.name), ["command_id", "kind"]);
  assert.equal(field(takeaway, "table_id").schema.type, "null", "a takeaway names no table");
  assert.equal(typeLabel(field(dineIn, "table_id").schema), "TableId");
  assert.equal(typeLabel(field(dineIn, "customer").schema), "Customer | null");
  assert.equal(typeLabel(field(dineIn, "lines").schema), "[LineRequest]");
  assert.ok(request.shared.includes("command_id") && request.shared.includes("lines") && !request.shared.includes("kind"), request.shared.join(","));
  // A delivery's customer is Customer (allOf) with a required address: one merged field list.
  const customer = field(delivery, "customer");
  assert.ok(customer.required);
  assert.deepEqual(customer.schema.includes, ["Customer"]);
  assert.deepEqual(customer.schema.fields.filter((f) => f.required).map((f) => f.name), ["address", "name"]);
  assert.deepEqual(limitsOf(field(dineIn, "guests").schema), [{ text: "1 to 200" }]);

  // Login is a PIN or a password; each shape leaves the other's fields out.
  const login = schema("LoginRequest");
  assert.deepEqual(login.variants.map((v) => v.label), ["PIN login", "Password login"]);
  assert.deepEqual(login.variants.map((v) => v.tree.fields.filter((f) => f.required).map((f) => f.name)), [["pin", "venue"], ["password", "username"]]);
  assert.deepEqual(limitsOf(field(login.variants[0].tree, "pin").schema), [{ label: "pattern", code: "^[0-9]{4,8}$" }]);
  assert.equal(typeLabel(field(login.variants[1].tree, "venue").schema), "string | null");

  // Composed schemas read as one field list; limits and defaults are kept.
  const view = schema("OrderView");
  assert.deepEqual(view.includes, ["Order"]);
  for (const name of ["id", "lines", "status", "subtotal", "ticket_code"]) assert.ok(field(view, name)?.required, `OrderView requires ${name}`);
  const table = schema("SaveTable");
  assert.equal(typeLabel(field(table, "id").schema), "string (uuid) | null");
  assert.match(field(table, "id").schema.description, /derived from `command_id`/);
  assert.deepEqual(limitsOf(field(table, "label").schema), [{ text: "at most 20 characters" }, { text: "not blank" }]);
  assert.deepEqual(limitsOf(field(table, "width").schema), [{ text: "> 0" }, { label: "default", code: "60" }]);
  assert.deepEqual(limitsOf(field(schema("LineRequest"), "modifiers").schema), [{ text: "no duplicates" }]);
  assert.deepEqual(limitsOf(field(schema("StaffVenuesRequest"), "venues").schema), [{ text: "at most 64 items" }]);

  // Responses carry their headers.
  const created = open.responses.find((r) => r.status === "201");
  assert.deepEqual(created.headers.map((h) => h.name), ["Idempotent-Replayed", "X-Venue-Seq"]);
  assert.deepEqual(limitsOf(created.headers[0].schema), [{ label: "one of", values: ["true", "false"] }]);
  assert.equal(typeLabel(schemaTree({ type: "array", items: { $ref: "#/components/schemas/LineRequest" } })), "[LineRequest]");
});

test("the API reference renders the hub's operations offline and searches them", async () => {
  const page = await openPage(SIZES[0]);
  await page.goto(`${hub.base}/api/v1/docs`);
  await page.locator("#operations details.op").first().waitFor();
  for (const [method, path] of [
    ["POST", "/api/v1/orders"],
    ["POST", "/api/v1/auth/login"],
    ["GET", "/api/v1/floor"],
    ["POST", "/api/v1/orders/{id}/fire"],
    ["GET", "/api/v1/docs"],
  ]) {
    const summary = page.locator("details.op > summary", { hasText: method }).filter({ hasText: path.replace(/\//g, "/\u200b") });
    assert.ok((await summary.count()) >= 1, `${method} ${path} is shown`);
  }
  await page.screenshot({ path: join(SHOTS, "api-docs-1920x1080.png") });

  // Opening an operation shows its body fields, responses and error codes.
  await page.goto(`${hub.base}/api/v1/docs#op-open_order`);
  const open = page.locator("#op-open_order");
  await open.locator(".op-body").waitFor();
  assert.equal(await open.getAttribute("open"), "");
  const text = await open.innerText();
  for (const shown of [
    "Request body", "One of: Dine-in order | Takeaway order | Delivery order", "chosen by the required field kind", "kind: \"dine_in\"",
    "command_id", "kind", "lines", "table_id", "required", "1 to 200", "Leave out (or send as null): table_id",
    "201", "409", "item_unavailable", "Idempotent-Replayed", "X-Venue-Seq", "Authorization: Bearer",
  ]) {
    assert.ok(text.toLowerCase().includes(shown.toLowerCase()), `open_order shows ${shown}:\n${text}`);
  }
  // Required fields are marked as such, in a shape and among the fields all shapes take.
  const badge = (scope, name) => scope.locator("ul.fields > li", { has: page.locator(`:scope > .field-head > code.name:text-is("${name}")`) }).first().locator(":scope > .field-head .badge");
  assert.equal(await badge(open.locator(".variant", { hasText: "Dine-in order" }), "table_id").textContent(), "required");
  assert.equal(await badge(open.locator(".variant", { hasText: "Takeaway order" }), "customer").textContent(), "optional");
  assert.equal(await badge(open, "command_id").textContent(), "required");
  const stray = await page.evaluate(() => {
    const walker = document.createTreeWalker(document.querySelector("main"), NodeFilter.SHOW_TEXT);
    const found = [];
    while (walker.nextNode()) {
      // A description may name `null` in its own words (`Missing, null or blank is refused`).
      const quoted = walker.currentNode.parentElement.matches(".desc code");
      if (!quoted && /^(null|undefined|\[object Object\])$/.test(walker.currentNode.data.trim())) found.push(walker.currentNode.parentElement.outerHTML.slice(0, 200));
    }
    return found;
  });
  assert.deepEqual(stray, [], "no placeholder text leaks into the page");
  await open.locator("a.type", { hasText: "OrderView" }).first().click();
  await page.locator("#schema-OrderView[open]").waitFor();
  await page.goto(`${hub.base}/api/v1/docs#op-open_order`);
  await open.locator(".op-body").waitFor();
  await page.screenshot({ path: join(SHOTS, "api-docs-operation-1920x1080.png") });

  // The search narrows the operations to those naming the words, error codes included.
  const total = await page.locator("#operations details.op").count();
  await page.fill("#search", "nothing_to_fire");
  const visible = await page.locator("#operations details.op:visible > summary").allInnerTexts();
  assert.ok(visible.some((t) => t.includes("Fire course")), visible.join("\n"));
  assert.ok(visible.length < total / 4, `the search narrowed ${total} operations to ${visible.length}`);
  await page.fill("#search", "no such operation at all");
  assert.ok(await page.locator("#no-match").isVisible());
  assert.deepEqual(page.foreign, [], "nothing is loaded from outside the hub");
  assert.deepEqual(page.errors, [], "the page threw nothing");
});

test("bodies with alternative shapes or composed schemas read well on a wall screen and a phone", async () => {
  const expected = {
    login: ["One of: PIN login | Password login", "PIN login", "Password login", "pin", "venue", "pattern ^[0-9]{4,8}$", "username", "Leave out (or send as null): password, username", "TokenResponse"],
    open_order: ["One of: Dine-in order | Takeaway order | Delivery order", "Built on Customer; every field:", "address", "In all 3 shapes:", "command_id"],
    create_table: ["SaveTable", "label", "at most 20 characters · not blank", "> 0 · default 60", "1 to 100", "string (uuid) | null", "X-Venue-Seq"],
  };
  for (const size of SIZES) {
    const page = await openPage(size);
    for (const [id, shown] of Object.entries(expected)) {
      await page.goto(`${hub.base}/api/v1/docs#op-${id}`);
      const op = page.locator(`#op-${id}`);
      await op.locator(".op-body").waitFor();
      await page.waitForFunction((anchor) => document.getElementById(anchor).open, `op-${id}`);
      const text = await op.innerText();
      for (const part of shown) assert.ok(text.includes(part), `${id} shows ${part} at ${size.name}:\n${text}`);
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(wide <= 0, `${id} opened is ${wide}px wider than a ${size.name} screen`);
      await page.screenshot({ path: join(SHOTS, `api-docs-${id}-${size.name}.png`) });
      await op.screenshot({ path: join(SHOTS, `api-docs-${id}-whole-${size.name}.png`) });
    }
    assert.deepEqual(page.foreign, [], "nothing is loaded from outside the hub");
    assert.deepEqual(page.errors, [], "the page threw nothing");
    await page.close();
  }
});

test("the landing page links to the readable reference; both fit a phone", async () => {
  for (const size of SIZES) {
    const page = await openPage(size);
    await page.goto(`${hub.base}/`);
    const link = page.locator('#apps a[href="/api/v1/docs"]');
    await link.waitFor();
    await page.locator("#health[data-state=ok]").waitFor();
    await page.screenshot({ path: join(SHOTS, `landing-${size.name}.png`), fullPage: true });
    await link.click();
    await page.locator("#operations details.op").first().waitFor();
    // No sideways scrolling on a phone.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the reference is ${overflow}px wider than a ${size.name} screen`);
    await page.screenshot({ path: join(SHOTS, `api-docs-top-${size.name}.png`) });
    if (size.width < 900) {
      await page.goto(`${hub.base}/api/v1/docs#op-open_order`);
      await page.locator("#op-open_order .op-body").waitFor();
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(wide <= 0, `an open operation is ${wide}px wider than a phone`);
    }
    await page.screenshot({ path: join(SHOTS, `api-docs-open-${size.name}.png`) });
    assert.deepEqual(page.foreign, [], "nothing is loaded from outside the hub");
    assert.deepEqual(page.errors, [], "the pages threw nothing");
    await page.close();
  }
});
