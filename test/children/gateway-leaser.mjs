// A leasing client of a gateway's lease API: prints {"ready":true}, and on "go" asks --url for one lease of
// --provider with bearer --token, releases it, and prints the outcome (the token it was handed, or the error).
import { emit, parseFlags, waitForGo } from "./child-io.mjs";

const flags = parseFlags();
const headers = { authorization: `Bearer ${flags.token}`, "content-type": "application/json" };
await waitForGo();
try {
  const response = await fetch(`${flags.url}/v1/leases`, {
    method: "POST",
    headers,
    body: JSON.stringify({ provider: flags.provider ?? "anthropic" }),
  });
  const body = await response.json();
  if (response.status !== 201) {
    emit({ leased: false, status: response.status, code: body.error?.code, message: body.error?.message });
  } else {
    const released = await fetch(`${flags.url}/v1/leases/${encodeURIComponent(body.leaseId)}/release`, {
      method: "POST",
      headers,
      body: '{"outcome":"ok"}',
    });
    await released.arrayBuffer();
    emit({ leased: true, token: body.token, credentialId: body.credentialId, released: released.status });
  }
} catch (error) {
  emit({ leased: false, message: error.message });
}
process.exit(0);
