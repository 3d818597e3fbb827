// Verifies a wschat webhook request (Standard Webhooks signatures; see
// docs/events.md). Node.js, no dependency. Pass the raw body as a Buffer:
// the signature covers the bytes as sent, not a re-serialized object.
import { createHmac, timingSafeEqual } from "node:crypto";

export function verifyWebhook(secret, headers, rawBody /* Buffer */, toleranceSec = 300, nowSec = Date.now() / 1000) {
  const id = headers["webhook-id"], ts = headers["webhook-timestamp"], sigs = headers["webhook-signature"];
  if (!id || !ts || !sigs) return false;
  if (Math.abs(nowSec - Number(ts)) > toleranceSec) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const want = "v1," + createHmac("sha256", key).update(`${id}.${ts}.`).update(rawBody).digest("base64");
  return sigs.split(" ").some((s) => s.length === want.length && timingSafeEqual(Buffer.from(s), Buffer.from(want)));
}
