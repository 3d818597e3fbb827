// The Standard Webhooks test vector, and the ways a request must fail.
import { test } from "node:test";
import assert from "node:assert/strict";
import { verifyWebhook } from "./verify.mjs";

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const headers = {
  "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
  "webhook-timestamp": "1614265330",
  "webhook-signature": "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};
const body = Buffer.from('{"test": 2432232314}');
const at = 1614265330 + 60;

test("the published vector verifies, with or without the whsec_ prefix", () => {
  assert.equal(verifyWebhook(secret, headers, body, 300, at), true);
  assert.equal(verifyWebhook(secret.slice(6), headers, body, 300, at), true);
});

test("tampered, stale, mis-signed or unsigned requests do not", () => {
  assert.equal(verifyWebhook(secret, headers, Buffer.from('{"test": 2432232315}'), 300, at), false);
  assert.equal(verifyWebhook(secret, headers, body, 300, at + 600), false);
  assert.equal(verifyWebhook("whsec_" + "A".repeat(32), headers, body, 300, at), false);
  assert.equal(verifyWebhook(secret, { ...headers, "webhook-id": "other" }, body, 300, at), false);
  assert.equal(verifyWebhook(secret, { ...headers, "webhook-signature": undefined }, body, 300, at), false);
});
