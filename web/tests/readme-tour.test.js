// Runs the README's "A quick tour with curl" as written (bash, curl, jq) against the real
// hub, with only the address and the scratch directory replaced, and checks that it says
// what the README says it says.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { codeBlocks } from "./support/docs.js";
import { startHub } from "./support/hub.js";

const run = promisify(execFile);

let hub;
let scratch;
before(async () => {
  hub = await startHub();
  scratch = await mkdtemp(join(tmpdir(), "almahira-tour-"));
});
after(async () => {
  await hub?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

test("the README's curl tour runs against the demo hub and shows what the README says", async () => {
  const [tour] = await codeBlocks("README.md", "A quick tour with curl", "sh");
  assert.ok(tour.includes("http://localhost:8080"), "the tour names the default address");
  const script = tour.replaceAll("http://localhost:8080", hub.base).replaceAll("/tmp/", `${scratch}/`);
  const { stdout } = await run("bash", ["-e", "-o", "pipefail", "-c", script], { maxBuffer: 16 * 1024 * 1024 });

  // Step 4: course 1 fires at once, the main waits with status `new`.
  assert.match(stdout, /"Tempe Mendoan x1 course 1 fired"/);
  assert.match(stdout, /"Fish & Chips x1 course 2 new"/);
  // Step 5: the retry is answered from the first result.
  const replayed = stdout.slice(stdout.lastIndexOf("HTTP/1.1 200 OK"));
  assert.match(replayed, /^HTTP\/1\.1 200 OK/);
  assert.match(replayed, /idempotent-replayed: true/i);
  const ids = [...stdout.matchAll(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/gm)].map((m) => m[0]);
  assert.equal(ids.length, 1, `one order id, printed once by the replay:\n${stdout}`);
  const orders = await (await hub.login("3333")).get("/api/v1/orders");
  assert.equal(orders.length, 1, "the retry made no second ticket");
  assert.equal(orders[0].id, ids[0]);
  // Step 6: after the fire, the main is in the kitchen and the table is ordered.
  assert.match(stdout, /"Fish & Chips fired"/);
  assert.match(stdout, /"label": "3"/);
});
