// Mux's own verifier (npm @mux/mux-node, webhooks.verifySignature) on what livehook signs.
// Reads the JSON lines of `cargo run -p livehook --example sign_samples` on stdin; every Mux
// line must verify, and the same header must be refused for a changed body.
import { readFileSync } from 'node:fs';
import Mux from '@mux/mux-node';

const mux = new Mux({ tokenId: 'unused', tokenSecret: 'unused' });
let accepted = 0;
for (const line of readFileSync(0, 'utf8').split('\n').filter(Boolean)) {
  const delivery = JSON.parse(line);
  if (delivery.provider !== 'mux') continue;
  const { body, headers, secret, sample } = delivery;
  await mux.webhooks.verifySignature(body, headers, secret);
  let refused = false;
  try {
    await mux.webhooks.verifySignature(body.replace('}', ',"x":1}'), headers, secret);
  } catch {
    refused = true;
  }
  if (!refused) {
    console.error(`mux ${sample}: a changed body was accepted`);
    process.exit(1);
  }
  accepted += 1;
}
if (accepted === 0) {
  console.error('no Mux deliveries to verify');
  process.exit(1);
}
console.log(`@mux/mux-node verifySignature: ${accepted} signed deliveries accepted, changed bodies refused`);
